// Server-sent events over fetch(): an incremental parser of the text/event-stream format and a reconnecting reader.
import { ApiError, authorizedFetch, errorFromResponse, reportUnauthorized } from './client';

export interface SseMessage {
  event: string;
  data: string;
  id: string | null;
}

/**
 * Parses the event-stream format as bytes arrive: chunks may end anywhere,
 * even between the CR and LF of one line ending. Comments (`:` lines, the
 * server's keep-alives) produce no message.
 */
export class SseParser {
  private buffer = '';
  private eventType = '';
  private data: string[] = [];
  private lastId: string | null = null;
  private dropLeadingLf = false;
  private started = false;
  /** The reconnection time the stream asked for (`retry:`), if any. */
  retryMs: number | null = null;

  push(chunk: string): SseMessage[] {
    let text = chunk;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.dropLeadingLf && text.startsWith('\n')) text = text.slice(1);
    this.dropLeadingLf = false;
    this.buffer += text;

    const out: SseMessage[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.buffer.slice(start, i);
      if (c === 13) {
        if (i + 1 < this.buffer.length) {
          if (this.buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          // A CR at the very end: its LF may be the next chunk's first byte.
          this.dropLeadingLf = true;
        }
      }
      start = i + 1;
      const message = this.line(line);
      if (message) out.push(message);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  private line(line: string): SseMessage | null {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break;
    }
    return null;
  }

  private dispatch(): SseMessage | null {
    const event = this.eventType || 'message';
    const data = this.data;
    this.eventType = '';
    this.data = [];
    if (data.length === 0) return null;
    return { event, data: data.join('\n'), id: this.lastId };
  }
}

/** green: messages flow; amber: connecting again; red: several tries in a row failed (still trying). */
export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'down';

/** 0.5 s doubling to 10 s. `attempt` counts from 0. */
export function backoffDelay(attempt: number, baseMs = 500, maxMs = 10_000): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
}

export interface StreamOptions {
  /** Called for each message; return 'stop' to end the stream for good. */
  onMessage(message: SseMessage): void | 'stop';
  onState?(state: ConnectionState): void;
  /** An answer that retrying cannot fix (404, 403, …): the stream stops. */
  onFatal?(error: ApiError): void;
  /** Reconnect when nothing (not even a keep-alive) arrived for this long. */
  idleMs?: number;
  /** Failed tries in a row before the state turns 'down'. */
  downAfter?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  fetchImpl?: typeof fetch;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/**
 * Reads an SSE endpoint with the bearer token, reconnecting with exponential
 * back-off when it drops (the attempt count resets once a message arrives).
 * An `unauthorized` event, or a 401, signs the page out. Returns a function that closes it.
 */
export function openEventStream(path: string, options: StreamOptions): () => void {
  const closer = new AbortController();
  const sleep = options.sleep ?? abortableSleep;
  const idleMs = options.idleMs ?? 45_000;
  const downAfter = options.downAfter ?? 3;
  let state: ConnectionState | null = null;
  const setState = (next: ConnectionState) => {
    if (next !== state) {
      state = next;
      options.onState?.(next);
    }
  };

  async function once(): Promise<'again' | 'stop'> {
    const attempt = new AbortController();
    const abortAttempt = () => attempt.abort();
    closer.signal.addEventListener('abort', abortAttempt);
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const armIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(abortAttempt, idleMs);
    };
    try {
      armIdle();
      const response = await authorizedFetch(path, {
        headers: { Accept: 'text/event-stream' },
        signal: attempt.signal,
        cache: 'no-store',
        fetchImpl: options.fetchImpl,
      });
      if (!response.ok) {
        const error = await errorFromResponse(response);
        if (response.status === 401) {
          reportUnauthorized(error.message);
          return 'stop';
        }
        if (response.status === 429 || response.status >= 500) return 'again';
        options.onFatal?.(error);
        return 'stop';
      }
      if (!response.body) return 'again';
      setState('live');
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        armIdle();
        const messages = parser.push(decoder.decode(value, { stream: true }));
        for (const message of messages) {
          failures = 0;
          if (message.event === 'unauthorized') {
            reportUnauthorized(messageOf(message.data));
            return 'stop';
          }
          if (options.onMessage(message) === 'stop') return 'stop';
        }
      }
      return 'again';
    } catch (error) {
      if (closer.signal.aborted) return 'stop';
      if (error instanceof ApiError && error.status === 401) return 'stop';
      return 'again';
    } finally {
      clearTimeout(idleTimer);
      closer.signal.removeEventListener('abort', abortAttempt);
      attempt.abort();
    }
  }

  let failures = 0;
  (async () => {
    setState('connecting');
    while (!closer.signal.aborted) {
      const outcome = await once();
      if (outcome === 'stop' || closer.signal.aborted) break;
      failures += 1;
      setState(failures >= downAfter ? 'down' : 'reconnecting');
      await sleep(backoffDelay(failures - 1, options.baseDelayMs, options.maxDelayMs), closer.signal);
    }
  })();

  return () => closer.abort();
}

function messageOf(data: string): string {
  try {
    const body = JSON.parse(data) as { message?: unknown };
    if (typeof body.message === 'string' && body.message) return body.message;
  } catch {
    // not JSON: the text itself
  }
  return data || 'Your session ended. Sign in again.';
}

/** Parses a message's JSON data; null when it is not JSON. */
export function jsonOf<T>(message: SseMessage): T | null {
  try {
    return JSON.parse(message.data) as T;
  } catch {
    return null;
  }
}
