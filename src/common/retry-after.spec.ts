import { describe, expect, it } from '@jest/globals';
import { honourRetryAfter, parseHttpDate, parseRetryAfter, retryAfterOf } from './retry-after.js';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0); // Sun, 22 Nov 2026 12:00:00 GMT

describe('parseRetryAfter', () => {
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('2', NOW)).toBe(2000);
    expect(parseRetryAfter(' 120 ', NOW)).toBe(120_000);
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter('86400', NOW)).toBe(86_400_000);
  });

  it('reads an IMF-fixdate, relative to now, and 0 for a date in the past', () => {
    expect(parseRetryAfter('Sun, 22 Nov 2026 12:00:30 GMT', NOW)).toBe(30_000);
    expect(parseRetryAfter('sun, 22 nov 2026 12:05:00 gmt', NOW)).toBe(300_000);
    expect(parseRetryAfter('Sun, 22 Nov 2026 11:59:00 GMT', NOW)).toBe(0);
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', NOW)).toBe(0);
  });

  it('reads the obsolete RFC 850 and asctime forms', () => {
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT')).toBe(Date.UTC(1994, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).toBe(Date.UTC(1994, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Sun Nov 22 12:01:00 2026')).toBe(NOW + 60_000);
    expect(parseRetryAfter('Sunday, 22-Nov-26 12:00:10 GMT', NOW)).toBe(10_000);
  });

  it('returns null for anything else', () => {
    for (const bad of [
      null,
      undefined,
      '',
      '   ',
      '-5',
      '1.5',
      '2s',
      '0x10',
      'soon',
      '2026-11-22T12:00:30Z',
      'Sun, 22 Nov 2026 12:00:30 UTC',
      'Sun, 22 Nov 2026 12:00:30 +0000',
      'Sun, 31 Feb 2026 12:00:30 GMT',
      'Sun, 22 Foo 2026 12:00:30 GMT',
      'Sun, 22 Nov 2026 25:00:30 GMT',
      'Sun,22 Nov 2026 12:00:30 GMT',
    ]) {
      expect([bad, parseRetryAfter(bad, NOW)]).toEqual([bad, null]);
    }
  });

  it('does not bound absurd values: the caller does', () => {
    expect(parseRetryAfter('9999999999', NOW)).toBe(9_999_999_999_000);
    expect(parseRetryAfter('9'.repeat(400), NOW)).toBe(Infinity);
  });
});

describe('retryAfterOf', () => {
  it('counts only on 429 and 503', () => {
    expect(retryAfterOf(429, '2', NOW)).toBe(2000);
    expect(retryAfterOf(503, '3', NOW)).toBe(3000);
    expect(retryAfterOf(500, '2', NOW)).toBeUndefined();
    expect(retryAfterOf(502, '2', NOW)).toBeUndefined();
    expect(retryAfterOf(301, '2', NOW)).toBeUndefined();
    expect(retryAfterOf(429, null, NOW)).toBeUndefined();
    expect(retryAfterOf(429, 'later', NOW)).toBeUndefined();
  });
});

describe('honourRetryAfter', () => {
  it('waits at least Retry-After', () => {
    expect(honourRetryAfter(50, 2000, 600_000)).toBe(2000);
    expect(honourRetryAfter(50, 1999.2, 600_000)).toBe(2000);
  });

  it('keeps a longer backoff', () => {
    expect(honourRetryAfter(40_000, 2000, 600_000)).toBe(40_000);
    expect(honourRetryAfter(5000, 0, 600_000)).toBe(5000);
  });

  it('ignores a missing value and values beyond the maximum backoff', () => {
    expect(honourRetryAfter(5000, undefined, 600_000)).toBe(5000);
    expect(honourRetryAfter(5000, null, 600_000)).toBe(5000);
    expect(honourRetryAfter(5000, 600_000, 600_000)).toBe(600_000);
    expect(honourRetryAfter(5000, 600_001, 600_000)).toBe(5000);
    expect(honourRetryAfter(5000, Infinity, 600_000)).toBe(5000);
    expect(honourRetryAfter(5000, NaN, 600_000)).toBe(5000);
  });
});
