import { describe, expect, it } from '@jest/globals';
import { negotiate } from './media-type.js';

describe('negotiate (Accept)', () => {
  const both = ['csv', 'ndjson'] as const;

  it('picks the first offered without a header or for wildcards', () => {
    for (const accept of [undefined, '', '   ', '*/*', 'text/*', 'text/html, */*;q=0.8'])
      expect([accept, negotiate(accept, both)]).toEqual([accept, 'csv']);
    expect(negotiate('application/*', both)).toBe('ndjson');
    expect(negotiate(undefined, ['ndjson'])).toBe('ndjson');
  });

  it('picks the named type, by either NDJSON name, case-insensitively, parameters ignored', () => {
    expect(negotiate('text/csv', both)).toBe('csv');
    expect(negotiate('application/x-ndjson', both)).toBe('ndjson');
    expect(negotiate('application/ndjson', both)).toBe('ndjson');
    expect(negotiate('Text/CSV; charset=utf-8', both)).toBe('csv');
  });

  it('weighs by q, the most specific range deciding, the earlier offered winning a tie', () => {
    expect(negotiate('text/csv;q=0.5, application/x-ndjson', both)).toBe('ndjson');
    expect(negotiate('text/csv;q=0, */*;q=0.1', both)).toBe('ndjson');
    expect(negotiate('text/csv;q=0.9, application/x-ndjson;q=0.9', both)).toBe('csv');
    expect(negotiate('application/x-ndjson, text/csv', both)).toBe('csv');
    expect(negotiate('*/*;q=0.2, text/*;q=0', both)).toBe('ndjson');
  });

  it('answers null when nothing offered is acceptable', () => {
    for (const accept of [
      'application/json',
      'text/html',
      'text/csv;q=0',
      '*/*;q=0',
      'garbage',
      'text/csv;q=0, application/*;q=0',
    ])
      expect([accept, negotiate(accept, both)]).toEqual([accept, null]);
    expect(negotiate('text/csv', ['ndjson'])).toBeNull();
  });
});
