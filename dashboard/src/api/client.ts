// The REST client: same-origin fetch with the bearer token, JSON in and out, errors as ApiError, 401 → sign-in.
import type { Cause } from './types';
import { getToken } from '../auth/session';

/** An error answer of the API (`{error, message, causes?}`), or a network failure (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly causes: Cause[];

  constructor(status: number, code: string, message: string, causes: Cause[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.causes = causes;
  }
}

type UnauthorizedHandler = (message: string) => void;
let unauthorizedHandler: UnauthorizedHandler = () => {};

/** The page's reaction to a 401 (or an `unauthorized` stream event): back to sign-in with the message. */
export function onUnauthorized(handler: UnauthorizedHandler): void {
  unauthorizedHandler = handler;
}

export function reportUnauthorized(message: string): void {
  unauthorizedHandler(message || 'Your session ended. Sign in again.');
}

export async function errorFromResponse(response: Response): Promise<ApiError> {
  let code = `http_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  let causes: Cause[] = [];
  try {
    const text = await response.text();
    if (text) {
      try {
        const body = JSON.parse(text) as { error?: unknown; message?: unknown; causes?: unknown };
        if (typeof body.error === 'string') code = body.error;
        if (typeof body.message === 'string' && body.message) message = body.message;
        if (Array.isArray(body.causes)) causes = body.causes.filter(isCause);
      } catch {
        message = text.slice(0, 500);
      }
    }
  } catch {
    // the body could not be read: keep the status text
  }
  return new ApiError(response.status, code, message, causes);
}

function isCause(value: unknown): value is Cause {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string';
}

export interface FetchOptions extends RequestInit {
  /** A token to use instead of the stored one (signing in). */
  token?: string;
  fetchImpl?: typeof fetch | undefined;
}

/** fetch() with the Authorization header; relative to the page's origin. */
export function authorizedFetch(path: string, options: FetchOptions = {}): Promise<Response> {
  const { token = getToken() ?? undefined, fetchImpl = fetch, headers, ...init } = options;
  const all = new Headers(headers);
  if (token) all.set('Authorization', `Bearer ${token}`);
  return fetchImpl(path, { ...init, headers: all, credentials: 'omit' });
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  token?: string;
}

export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await authorizedFetch(withQuery(path, options.query), {
      method,
      headers,
      body,
      signal: options.signal,
      token: options.token,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network', 'The podmirror server cannot be reached. Check your connection and try again.');
  }
  if (!response.ok) {
    const error = await errorFromResponse(response);
    if (response.status === 401 && !options.token) reportUnauthorized(error.message);
    throw error;
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const api = {
  get: <T>(path: string, options?: RequestOptions) => request<T>('GET', path, options),
  post: <T>(path: string, body?: unknown, options?: RequestOptions) => request<T>('POST', path, { ...options, body }),
  put: <T>(path: string, body?: unknown, options?: RequestOptions) => request<T>('PUT', path, { ...options, body }),
  del: <T>(path: string, options?: RequestOptions) => request<T>('DELETE', path, options),
};

/** A path segment: `namespace:name` keeps its colon readable. */
export function seg(value: string): string {
  return value.split(':').map(encodeURIComponent).join(':');
}

/** The message to show for any thrown value. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
