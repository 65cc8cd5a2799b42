import { describe, expect, it } from '@jest/globals';
import { leaseMs, replyRetryDelayMs, safeJobError } from './outbox.worker.js';

describe('replyRetryDelayMs', () => {
  const mid = () => 0.5; // no jitter

  it('doubles from the base per attempt, up to the maximum', () => {
    expect([1, 2, 3, 4, 5].map((n) => replyRetryDelayMs(n, 5000, 600_000, mid))).toEqual([
      5000, 10_000, 20_000, 40_000, 80_000,
    ]);
    expect(replyRetryDelayMs(8, 5000, 600_000, mid)).toBe(600_000);
    expect(replyRetryDelayMs(5000, 5000, 600_000, mid)).toBe(600_000);
  });

  it('jitters by at most 10 %', () => {
    expect(replyRetryDelayMs(1, 1000, 600_000, () => 0)).toBe(900);
    expect(replyRetryDelayMs(1, 1000, 600_000, () => 0.999999)).toBe(1100);
  });
});

describe('leaseMs', () => {
  it('covers four Sinch requests plus a margin', () => {
    expect(leaseMs(10_000)).toBe(70_000);
  });
});

describe('safeJobError', () => {
  it('removes the text and the identity, and fits in last_error', () => {
    const out = safeJobError('HTTP 400: bad "Hello there" for 46732001122', {
      text: 'Hello there',
      identity: '46732001122',
    });
    expect(out).toBe('HTTP 400: bad "[redacted]" for [redacted]');
    expect(safeJobError('x'.repeat(900), { text: 'abcd', identity: 'efgh' })).toHaveLength(500);
  });
});
