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

/** A caller-given event time, parsed, or why it is refused. */
export type EventTimeCheck = { time: Date; problem?: undefined } | { problem: string };

/**
 * The one rule for caller-given event times (API requests and import rows): an RFC 3339
 * date-time with a zone, not more than 5 minutes ahead of `now`, not before the year 2000.
 */
export function checkEventTime(raw: string, now: number): EventTimeCheck {
  const t = new Date(raw);
  if (Number.isNaN(t.getTime())) return { problem: 'must be an ISO-8601 date-time' };
  if (!/(Z|[+-]\d{2}:?\d{2})$/.test(raw))
    return { problem: 'must carry a time zone (Z or +hh:mm)' };
  if (isTooFarAhead(t, now)) return { problem: 'must not be more than 5 minutes in the future' };
  if (t.getUTCFullYear() < 2000) return { problem: 'must be after the year 2000' };
  return { time: t };
}
