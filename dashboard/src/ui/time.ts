// Time texts: RFC 3339 parsing, ages and "x ago", restarts as "N (x ago)", countdowns from the server's clock.

/** Milliseconds since the epoch of an RFC 3339 time (any number of fractional digits), or null. */
export function parseTime(text: string | null | undefined): number | null {
  if (!text) return null;
  const match = /^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:?\d{2})?$/.exec(text.trim());
  if (!match) {
    const fallback = Date.parse(text);
    return Number.isNaN(fallback) ? null : fallback;
  }
  const [, base, fraction = '', zone = 'Z'] = match;
  const millis = (fraction + '000').slice(0, 3);
  const normalizedZone = zone === 'z' ? 'Z' : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone;
  const value = Date.parse(`${base!.replace(/[t ]/, 'T')}.${millis}${normalizedZone}`);
  return Number.isNaN(value) ? null : value;
}

/** A compact duration like kubectl's AGE column: 45s, 5m, 3h, 2d. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** "5m ago" for a time before `nowMs`; null when the time is unknown. */
export function formatAgo(at: string | null | undefined, nowMs: number): string | null {
  const t = parseTime(at);
  if (t === null) return null;
  return `${formatDuration((nowMs - t) / 1000)} ago`;
}

/** The age of something created at `createdAt`. */
export function formatAge(createdAt: string | null | undefined, nowMs: number): string {
  const t = parseTime(createdAt);
  return t === null ? '—' : formatDuration((nowMs - t) / 1000);
}

/** Restarts as kubectl shows them: "3 (2m ago)", or just "0". */
export function formatRestarts(restarts: number, lastRestartAt: string | null | undefined, nowMs: number): string {
  if (restarts <= 0) return '0';
  const ago = formatAgo(lastRestartAt, nowMs);
  return ago ? `${restarts} (${ago})` : String(restarts);
}

/** The browser's clock error against the server's: add it to Date.now() to get the server's time. */
export function clockSkew(serverNow: string | null | undefined, localNowMs: number): number | null {
  const t = parseTime(serverNow);
  return t === null ? null : t - localNowMs;
}

/**
 * Server − browser clock from many samples. A message's `now` is read when it arrives, so each sample
 * is short by the message's time in transit; the best estimate is the largest sample of the last
 * `windowMs` (the window lets a browser clock that was reset be followed).
 */
export class SkewEstimate {
  private samples: Array<{ at: number; skew: number }> = [];
  constructor(private readonly windowMs = 60_000) {}

  /** Adds a sample taken at browser time `at`; the estimate after it. */
  add(skew: number, at: number): number {
    this.samples = this.samples.filter((s) => s.at >= at - this.windowMs);
    this.samples.push({ at, skew });
    if (this.samples.length > 300) this.samples.shift();
    return this.value();
  }

  value(): number {
    return this.samples.length === 0 ? 0 : Math.max(...this.samples.map((s) => s.skew));
  }
}

/** Whole seconds left until `expiresAt` on the server's clock (`skewMs` = server − browser), at most `atMost` (the TTL). Never negative. */
export function remainingSeconds(expiresAt: string | null | undefined, skewMs: number, localNowMs: number, atMost?: number): number | null {
  const t = parseTime(expiresAt);
  if (t === null) return null;
  const left = Math.max(0, Math.ceil((t - (localNowMs + skewMs)) / 1000));
  // The server's clock is known to a fraction of a second: never show more than the TTL.
  return atMost === undefined ? left : Math.min(left, atMost);
}

/** "2m 05s", "45s", "1h 02m 05s"; "expired" at 0. */
export function formatCountdown(seconds: number | null): string {
  if (seconds === null) return '—';
  if (seconds <= 0) return 'expired';
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  if (h > 0) return `${h}h ${two(m)}m ${two(rest)}s`;
  if (m > 0) return `${m}m ${two(rest)}s`;
  return `${rest}s`;
}

/** A time for a tooltip, in the browser's zone. */
export function formatClock(at: string | null | undefined): string {
  const t = parseTime(at);
  return t === null ? '' : new Date(t).toLocaleString();
}
