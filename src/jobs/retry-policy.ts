// The one retry decision of the job handlers (replies, callbacks), framework-free: exponential
// backoff with jitter, the other side's Retry-After honoured within the maximum, and give-up.
import { honourRetryAfter } from '../common/retry-after.js';

/** An attempt as a handler saw it. */
export type AttemptResult =
  | { ok: true }
  | {
      ok: false;
      /** Network errors, timeouts, 5xx and 429 are retryable; other answers are not. */
      retryable: boolean;
      /** Safe to store and log (no identity, text, URL or secret). */
      error: string;
      /** The wait a 429 or 503 asked for in its Retry-After header, in ms from the answer. */
      retryAfterMs?: number;
    };

export interface RetryPolicy {
  /** First delay; doubles per failed attempt. */
  baseMs: number;
  /** Longest delay; a longer Retry-After is ignored. */
  maxMs: number;
}

/** What to record after an attempt. */
export interface AttemptDecision {
  outcome: 'SUCCEEDED' | 'RETRYING' | 'GAVE_UP';
  /** Only for RETRYING. */
  delayMs?: number;
  error: string | null;
}

/**
 * Delay before the next attempt after `attempts` failed ones: base × 2^(attempts-1), at most
 * `maxMs`, with ±10 % jitter so that jobs failed together do not come back together.
 */
export function retryDelayMs(
  attempts: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, attempts - 1);
  const delay = Math.min(baseMs * 2 ** exponent, maxMs);
  return Math.max(1, Math.round(delay * (0.9 + 0.2 * random())));
}

/**
 * The outcome of an attempt: SUCCEEDED when ok; RETRYING on a retryable failure; GAVE_UP on any
 * other failure. The next attempt comes after the backoff, or after the Retry-After (429, 503)
 * when that is longer and at most `policy.maxMs` (a longer one is ignored). With `giveUp`, a
 * retry whose next attempt would fall at or after `giveUp.at` gives up now instead (the error
 * names `giveUp.setting`); without it, the queue caps the retry at the job's give_up_at
 * (JobQueueRepository.scheduleRetry) and fails it there.
 */
export function decideAttempt(
  result: AttemptResult,
  attempts: number,
  policy: RetryPolicy,
  giveUp?: { at: Date; nowMs: number; setting: string },
  random: () => number = Math.random,
): AttemptDecision {
  if (result.ok) return { outcome: 'SUCCEEDED', error: null };
  if (!result.retryable) return { outcome: 'GAVE_UP', error: result.error };
  const backoffMs = retryDelayMs(attempts, policy.baseMs, policy.maxMs, random);
  const delayMs = honourRetryAfter(backoffMs, result.retryAfterMs, policy.maxMs);
  const error =
    delayMs > backoffMs
      ? `${result.error}; Retry-After ${Math.ceil(delayMs / 1000)} s`
      : result.error;
  if (giveUp && giveUp.nowMs + delayMs >= giveUp.at.getTime()) {
    return {
      outcome: 'GAVE_UP',
      error: `${error}; given up: not delivered within ${giveUp.setting}`,
    };
  }
  return { outcome: 'RETRYING', delayMs, error };
}
