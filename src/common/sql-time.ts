/**
 * SQL: the timestamptz `expr` as RFC 3339 in UTC with milliseconds and a Z
 * ("2026-11-22T10:00:00.123Z"), whatever the session's TimeZone: the text Date.toISOString()
 * writes for the same value as node-postgres reads it (both truncate the microseconds). NULL
 * stays NULL. For rows that SQL formats itself (COPY exports) and the API formats in JS.
 */
export function isoTimestampSql(expr: string): string {
  return `to_char((${expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/**
 * SQL: the timestamptz `expr` as epoch milliseconds, a whole float8 (truncated, as node-postgres
 * truncates a timestamp to a Date): `new Date(value)` in JS. For statements that return many
 * rows: node-postgres reads a number far faster than timestamp text (in a bulk import's chunk,
 * that parsing was a tenth of the service's time). NULL stays NULL.
 */
export function epochMsSql(expr: string): string {
  return `floor(extract(epoch FROM ${expr}) * 1000)::float8`;
}
