// Retry-After (RFC 9110 §10.2.3), framework-free: a server answering 429 or 503 may say when to
// come back, as delta-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2026 07:28:00 GMT"). The
// reply worker and the callback worker schedule their next attempt no earlier than that, within
// their own maximum backoff.

const DAY = '(Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** IMF-fixdate, the preferred form: "Sun, 06 Nov 1994 08:49:37 GMT". */
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`, 'i');
/** Obsolete RFC 850 form: "Sunday, 06-Nov-94 08:49:37 GMT". */
const RFC_850 = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`, 'i');
/** Obsolete asctime form (always GMT): "Sun Nov  6 08:49:37 1994". */
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`, 'i');

/**
 * The wait a Retry-After header value asks for, in milliseconds from `nowMs` (0 for a date in the
 * past), or null when the value is absent or is neither delta-seconds nor an HTTP-date. Values
 * are not bounded here (a huge delta gives a huge number, possibly Infinity): the caller decides
 * what is too much (see honourRetryAfter).
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | null {
  if (value === null || value === undefined) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = parseHttpDate(v);
  return at === null ? null : Math.max(0, at - nowMs);
}

/** An HTTP-date (any of its three forms) in epoch ms, or null. */
export function parseHttpDate(value: string): number | null {
  let m = IMF_FIXDATE.exec(value);
  if (m) return utc(Number(m[4]), m[3]!, Number(m[2]), m[5]!, m[6]!, m[7]!);
  m = RFC_850.exec(value);
  if (m) {
    // Two-digit years (RFC 9110 §5.6.7): one more than 50 years ahead is in the past century.
    const yy = Number(m[4]);
    const thisYear = new Date().getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + yy;
    if (year > thisYear + 50) year -= 100;
    return utc(year, m[3]!, Number(m[2]), m[5]!, m[6]!, m[7]!);
  }
  m = ASCTIME.exec(value);
  if (m) return utc(Number(m[7]), m[2]!, Number(m[3]!.trim()), m[4]!, m[5]!, m[6]!);
  return null;
}

function utc(
  year: number,
  month: string,
  day: number,
  hh: string,
  mm: string,
  ss: string,
): number | null {
  const monthIndex = MONTHS.indexOf(month.toLowerCase());
  const [h, min, s] = [Number(hh), Number(mm), Number(ss)];
  if (monthIndex < 0 || h > 23 || min > 59 || s > 60) return null;
  // A leap second (:60) is read as :59, so that it cannot roll over into the next day.
  const ms = Date.UTC(year, monthIndex, day, h, min, Math.min(s, 59));
  const d = new Date(ms);
  // Refuse dates that do not exist (Feb 30 would roll over to March).
  if (d.getUTCDate() !== day || d.getUTCMonth() !== monthIndex) return null;
  return ms;
}

/**
 * The Retry-After wait of an HTTP answer, when it is a 429 or a 503 with a readable header;
 * otherwise undefined (other statuses' Retry-After is not about retrying the same request).
 */
export function retryAfterOf(
  status: number,
  header: string | null | undefined,
  nowMs: number,
): number | undefined {
  if (status !== 429 && status !== 503) return undefined;
  return parseRetryAfter(header, nowMs) ?? undefined;
}

/**
 * The delay before the next attempt: the worker's own backoff, or the server's Retry-After when
 * that is longer. A Retry-After longer than `maxMs` (the worker's longest backoff) is absurd for
 * this job and ignored, as is an absent one.
 */
export function honourRetryAfter(
  backoffMs: number,
  retryAfterMs: number | null | undefined,
  maxMs: number,
): number {
  if (retryAfterMs === null || retryAfterMs === undefined) return backoffMs;
  if (!(retryAfterMs >= 0) || retryAfterMs > maxMs) return backoffMs;
  return Math.max(backoffMs, Math.ceil(retryAfterMs));
}
