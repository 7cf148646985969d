// The bearer token of this tab: kept in sessionStorage, taken once from a `#token=` sign-in link.
const KEY = 'podmirror.token';

let memory: string | null = null;

function storage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

export function getToken(): string | null {
  return storage()?.getItem(KEY) ?? memory;
}

export function setToken(token: string): void {
  memory = token;
  try {
    storage()?.setItem(KEY, token);
  } catch {
    // storage full or disabled: the token lives in memory for this page only
  }
}

export function clearToken(): void {
  memory = null;
  try {
    storage()?.removeItem(KEY);
  } catch {
    // nothing stored
  }
}

/**
 * The token of a sign-in link (`…/#token=pm_…`), removed from the address bar
 * (and so from the history) at once. The fragment never reached the server.
 */
export function takeTokenFromUrl(location: Pick<Location, 'hash' | 'pathname' | 'search'>, history: Pick<History, 'replaceState'>): string | null {
  const hash = location.hash.replace(/^#/, '');
  if (!hash) return null;
  const params = new URLSearchParams(hash);
  const token = params.get('token');
  if (token === null) return null;
  params.delete('token');
  const rest = params.toString();
  history.replaceState(null, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
  const trimmed = token.trim();
  return trimmed || null;
}

/** What a token looks like (`pm_<id>_<secret>`); a hint for the sign-in form, the server decides. */
export function looksLikeToken(text: string): boolean {
  return /^pm_[A-Za-z0-9]+_[A-Za-z0-9]+$/.test(text.trim());
}
