// Tests of the time texts: countdowns against the server's clock, ages, "N (x ago)".
import { describe, expect, it } from 'vitest';
import { clockSkew, SkewEstimate, formatAge, formatCountdown, formatDuration, formatRestarts, parseTime, remainingSeconds } from './time';

describe('parseTime', () => {
  it('reads RFC 3339 with any fraction and offsets', () => {
    expect(parseTime('2026-12-03T11:07:54Z')).toBe(Date.UTC(2026, 11, 3, 11, 7, 54));
    expect(parseTime('2026-12-03T11:07:54.368123456Z')).toBe(Date.UTC(2026, 11, 3, 11, 7, 54, 368));
    expect(parseTime('2026-12-03T12:07:54.5+01:00')).toBe(Date.UTC(2026, 11, 3, 11, 7, 54, 500));
    expect(parseTime(null)).toBeNull();
    expect(parseTime('not a time')).toBeNull();
  });
});

describe('countdown', () => {
  const expires = '2026-12-03T12:00:00Z';
  const at = (iso: string) => Date.parse(iso);

  it('formats minutes and seconds with two-digit seconds', () => {
    expect(formatCountdown(125)).toBe('2m 05s');
    expect(formatCountdown(60)).toBe('1m 00s');
    expect(formatCountdown(45)).toBe('45s');
    expect(formatCountdown(3725)).toBe('1h 02m 05s');
  });

  it('says expired at zero and after', () => {
    expect(formatCountdown(0)).toBe('expired');
    expect(remainingSeconds(expires, 0, at('2026-12-03T12:00:05Z'))).toBe(0);
    expect(formatCountdown(remainingSeconds(expires, 0, at('2026-12-03T12:00:05Z')))).toBe('expired');
  });

  it('counts on the server clock, not the browser clock', () => {
    // The browser runs 30 s behind the server: it thinks 11:57:25, the server says 11:57:55.
    const browserNow = at('2026-12-03T11:57:25Z');
    const skew = clockSkew('2026-12-03T11:57:55.000Z', browserNow)!;
    expect(skew).toBe(30_000);
    expect(formatCountdown(remainingSeconds(expires, skew, browserNow))).toBe('2m 05s');
    // one second later on the browser: one second less
    expect(formatCountdown(remainingSeconds(expires, skew, browserNow + 1000))).toBe('2m 04s');
    // with the browser clock alone it would be wrong
    expect(formatCountdown(remainingSeconds(expires, 0, browserNow))).toBe('2m 35s');
  });

  it('rounds a part second up, so 0 means the time has passed', () => {
    expect(remainingSeconds(expires, 0, at('2026-12-03T11:59:59.600Z'))).toBe(1);
    expect(remainingSeconds(expires, 0, at('2026-12-03T12:00:00Z'))).toBe(0);
    expect(remainingSeconds(null, 0, 0)).toBeNull();
  });
});

describe('ages and restarts', () => {
  const now = Date.parse('2026-12-03T12:00:00Z');
  it('formats compact durations', () => {
    expect([0, 59, 60, 3599, 3600, 86399, 86400 * 3].map(formatDuration)).toEqual(['0s', '59s', '1m', '59m', '1h', '23h', '3d']);
    expect(formatAge('2026-12-03T11:55:00Z', now)).toBe('5m');
    expect(formatAge(null, now)).toBe('—');
  });
  it('shows restarts as "N (x ago)"', () => {
    expect(formatRestarts(3, '2026-12-03T11:58:00Z', now)).toBe('3 (2m ago)');
    expect(formatRestarts(1, '2026-12-03T11:59:50.123456Z', now)).toBe('1 (9s ago)');
    expect(formatRestarts(0, null, now)).toBe('0');
    expect(formatRestarts(4, null, now)).toBe('4');
  });

  it('takes the largest skew of the last minute, as messages only arrive late', () => {
    const e = new SkewEstimate(60_000);
    // the server is 30 s ahead; messages take 5, 1200 and 40 ms to arrive
    expect(e.add(30_000 - 5, 1_000)).toBe(29_995);
    expect(e.add(30_000 - 1_200, 2_000)).toBe(29_995);
    expect(e.add(30_000 - 40, 3_000)).toBe(29_995);
    // a minute on, the old samples are gone: the browser clock was set 10 s back
    expect(e.add(40_000 - 30, 70_000)).toBe(39_970);
    expect(e.add(40_000 - 10, 200_000)).toBe(39_990);
  });

  it('never shows more than the TTL, though the server clock is known to a fraction of a second', () => {
    const expires = '2026-12-03T12:02:00.000Z';
    expect(remainingSeconds(expires, 0, Date.parse('2026-12-03T12:00:00Z') - 150)).toBe(121);
    expect(remainingSeconds(expires, 0, Date.parse('2026-12-03T12:00:00Z') - 150, 120)).toBe(120);
  });
});
