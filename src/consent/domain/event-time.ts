/**
 * The one rule for the event time of a consent change, whatever its path (API, batch, webhook
 * keyword, Sinch notification, import): a change cannot have happened after it reached us, so
 * the event time stored and compared is min(claimed, arrival). A claimed time in the future
 * would otherwise outrank every later change for ever (a STOP could never take effect again).
 * The claim is kept as evidence. Past event times are trusted: genuine reordering still
 * resolves by event time.
 */

/** The API refuses event times further ahead than this (with a 400); closer ones are clamped. */
export const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;

export interface EffectiveEventTime {
  /** The event time to store and to order by. */
  eventTime: Date;
  /** The claimed event time when it was later than the arrival (and so not used), else null. */
  claimedEventTime: Date | null;
}

/**
 * The event time of a change that arrived at `arrival` (read after its row lock, so that a
 * later arrival never gets an earlier time) claiming `claimed` (none: the arrival itself).
 */
export function effectiveEventTime(claimed: Date | undefined, arrival: Date): EffectiveEventTime {
  if (claimed === undefined || claimed.getTime() <= arrival.getTime()) {
    return { eventTime: claimed ?? arrival, claimedEventTime: null };
  }
  return { eventTime: arrival, claimedEventTime: claimed };
}

/** Whether a caller-given event time is too far ahead of `now` to be accepted at all (API). */
export function isTooFarAhead(claimed: Date, now: number): boolean {
  return claimed.getTime() > now + MAX_FUTURE_SKEW_MS;
}
