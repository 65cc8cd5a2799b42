import { describe, expect, it } from '@jest/globals';
import { decideAttempt, retryDelayMs } from './retry-policy.js';

describe('retryDelayMs', () => {
  const mid = () => 0.5; // no jitter

  it('doubles from the base per attempt, up to the maximum', () => {
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, 5000, 600_000, mid))).toEqual([
      5000, 10_000, 20_000, 40_000, 80_000,
    ]);
    expect(retryDelayMs(8, 5000, 600_000, mid)).toBe(600_000);
    expect(retryDelayMs(5000, 5000, 600_000, mid)).toBe(600_000);
  });

  it('jitters by at most 10 %', () => {
    expect(retryDelayMs(1, 1000, 600_000, () => 0)).toBe(900);
    expect(retryDelayMs(1, 1000, 600_000, () => 0.999999)).toBe(1100);
  });
});

describe('decideAttempt', () => {
  const mid = () => 0.5;
  const policy = { baseMs: 5000, maxMs: 3_600_000 };
  const now = Date.parse('2026-11-22T10:00:00Z');
  const giveUp = (inMs: number) => ({
    at: new Date(now + inMs),
    nowMs: now,
    setting: 'CALLBACK_GIVE_UP_AFTER_S',
  });
  const failed = (retryAfterMs?: number) => ({
    ok: false as const,
    retryable: true,
    error: 'HTTP 503 (retryable)',
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });

  it('decides SUCCEEDED, RETRYING or GAVE_UP', () => {
    expect(decideAttempt({ ok: true }, 1, policy)).toEqual({ outcome: 'SUCCEEDED', error: null });
    expect(decideAttempt(failed(), 2, policy, giveUp(86_400_000), mid)).toEqual({
      outcome: 'RETRYING',
      delayMs: 10_000,
      error: 'HTTP 503 (retryable)',
    });
    // The next attempt would fall after give_up_at: give up now.
    expect(decideAttempt(failed(), 2, policy, giveUp(9_000), mid)).toEqual({
      outcome: 'GAVE_UP',
      error: 'HTTP 503 (retryable); given up: not delivered within CALLBACK_GIVE_UP_AFTER_S',
    });
    // Without a give-up time the queue caps the retry (replies).
    expect(decideAttempt(failed(), 2, policy, undefined, mid)).toMatchObject({
      outcome: 'RETRYING',
    });
    expect(
      decideAttempt({ ok: false, retryable: false, error: 'HTTP 400' }, 1, policy, giveUp(1e9)),
    ).toEqual({ outcome: 'GAVE_UP', error: 'HTTP 400' });
  });

  it('waits for the Retry-After when longer than the backoff, within the maximum', () => {
    expect(decideAttempt(failed(120_000), 1, policy, undefined, mid)).toEqual({
      outcome: 'RETRYING',
      delayMs: 120_000,
      error: 'HTTP 503 (retryable); Retry-After 120 s',
    });
    // A shorter Retry-After does not make the backoff shorter.
    expect(decideAttempt(failed(2000), 2, policy, undefined, mid)).toMatchObject({
      delayMs: 10_000,
      error: 'HTTP 503 (retryable)',
    });
    // Beyond the maximum: ignored.
    expect(decideAttempt(failed(3_600_001), 1, policy, undefined, mid)).toMatchObject({
      delayMs: 5000,
    });
    // A Retry-After past give_up_at: no attempt can honour it, give up.
    expect(decideAttempt(failed(60_000), 1, policy, giveUp(30_000), mid)).toEqual({
      outcome: 'GAVE_UP',
      error:
        'HTTP 503 (retryable); Retry-After 60 s; given up: not delivered within CALLBACK_GIVE_UP_AFTER_S',
    });
  });
});
