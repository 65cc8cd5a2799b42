/** The earliest instant a point-in-time check answers for (earlier: 400). */
export const EARLIEST_INSTANT = new Date('2000-01-01T00:00:00Z');

/**
 * RFC 3339 `date-time` (section 5.6), a zone required: `Z` or `±hh:mm`; `T`, `t` or a space
 * between date and time, as class-validator's isRFC3339 (which the request DTO checks first).
 */
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

/**
 * The instant an RFC 3339 date-time with a zone names, to the millisecond (finer digits are
 * dropped), or what is wrong with it: not that syntax, not a real date or time (2026-02-30,
 * 25:00, a leap second :60, offsets beyond 23:59), or before EARLIEST_INSTANT. Whether it lies
 * in the future is for the caller to judge, against the database's clock.
 */
export function parseInstant(text: string): Date | string {
  const m = RFC3339.exec(text);
  if (!m) return 'must be an RFC 3339 date-time with a time zone (Z or ±hh:mm)';
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const millis = m[7] ? Number(`${m[7]}00`.slice(0, 3)) : 0;
  const offsetHours = m[8] ? Number(m[9]) : 0;
  const offsetMinutes = m[8] ? Number(m[10]) : 0;
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysIn(year, month) ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    offsetHours > 23 ||
    offsetMinutes > 59
  ) {
    return 'is not a valid date and time';
  }
  const sign = m[8] === '-' ? -1 : 1;
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, millis);
  const t = utc.getTime() - sign * (offsetHours * 60 + offsetMinutes) * 60_000;
  if (t < EARLIEST_INSTANT.getTime()) return 'must not be before 2000-01-01T00:00:00Z';
  return new Date(t);
}
