import { describe, expect, it } from '@jest/globals';
import { isRFC3339 } from 'class-validator';
import { parseInstant } from './point-in-time.js';

const iso = (text: string) => {
  const t = parseInstant(text);
  return t instanceof Date ? t.toISOString() : t;
};

describe('parseInstant', () => {
  it.each([
    ['2026-11-22T10:00:00Z', '2026-11-22T10:00:00.000Z'],
    ['2026-11-22t10:00:00z', '2026-11-22T10:00:00.000Z'],
    ['2026-11-22 10:00:00Z', '2026-11-22T10:00:00.000Z'],
    ['2026-11-22T10:00:00.5Z', '2026-11-22T10:00:00.500Z'],
    ['2026-11-22T10:00:00.123999Z', '2026-11-22T10:00:00.123Z'],
    ['2026-11-22T10:00:00+02:00', '2026-11-22T08:00:00.000Z'],
    ['2026-11-22T01:30:00-05:30', '2026-11-22T07:00:00.000Z'],
    ['2026-01-01T00:30:00+01:00', '2025-12-31T23:30:00.000Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
    ['2000-01-01T00:00:00Z', '2000-01-01T00:00:00.000Z'],
    ['2000-01-01T00:59:59-00:00', '2000-01-01T00:59:59.000Z'],
  ])('reads %s as %s', (text, expected) => {
    expect(isRFC3339(text)).toBe(true);
    expect(iso(text)).toBe(expected);
  });

  it.each([
    ['2026-11-22T10:00:00', 'RFC 3339'],
    ['2026-11-22', 'RFC 3339'],
    ['2026-11-22T10:00Z', 'RFC 3339'],
    ['2026-11-22T10:00:00+0200', 'RFC 3339'],
    ['20261122T100000Z', 'RFC 3339'],
    ['yesterday', 'RFC 3339'],
    ['', 'RFC 3339'],
    [' 2026-11-22T10:00:00Z', 'RFC 3339'],
    ['2026-02-29T00:00:00Z', 'valid'],
    ['2026-04-31T00:00:00Z', 'valid'],
    ['2026-13-01T00:00:00Z', 'valid'],
    ['2026-11-22T24:00:00Z', 'valid'],
    ['2026-12-31T23:59:60Z', 'valid'],
    ['2026-11-22T10:00:00+24:00', 'valid'],
    ['1999-12-31T23:59:59.999Z', 'before 2000'],
    ['2000-01-01T00:30:00+01:00', 'before 2000'],
    ['0001-01-01T00:00:00Z', 'before 2000'],
  ])('refuses %s (%s)', (text, why) => {
    const out = parseInstant(text);
    expect(typeof out).toBe('string');
    expect(out).toContain(why);
  });
});
