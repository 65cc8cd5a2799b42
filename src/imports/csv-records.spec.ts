import { describe, expect, it } from '@jest/globals';
import { parse } from 'csv-parse/sync';
import { CsvRecord, CsvRecords, CsvSyntaxError } from './csv-records.js';

/** Reads `text` in chunks of `size` characters: the records, or the syntax error. */
function read(text: string, size: number, max = 1000): CsvRecord[] | CsvSyntaxError {
  const records = new CsvRecords(max);
  const out: CsvRecord[] = [];
  try {
    for (let i = 0; i < text.length; i += size) records.push(text.slice(i, i + size), out);
    records.end(out);
  } catch (e) {
    if (e instanceof CsvSyntaxError) return e;
    throw e;
  }
  return out;
}

/** csv-parse (the parser the import used before) as the oracle: records and their start lines. */
function oracle(text: string): CsvRecord[] | 'error' {
  let parsed: { record: string[]; info: { bytes: number } }[];
  try {
    parsed = parse(text, {
      info: true,
      relax_column_count: true,
      skip_empty_lines: false,
      record_delimiter: ['\r\n', '\n'],
    }) as unknown as { record: string[]; info: { bytes: number } }[];
  } catch {
    return 'error';
  }
  let start = 0;
  return parsed.map(({ record, info }) => {
    // The line a record starts on: one more than the line feeds before its first character.
    const line = 1 + (text.slice(0, start).match(/\n/g)?.length ?? 0);
    start = info.bytes;
    return { line, fields: record };
  });
}

/** A random text over the characters that matter to CSV. */
function randomCsv(random: () => number): string {
  const alphabet = ['a', 'b', ',', '"', '\n', '\r\n', '\r', ' ', '""'];
  let s = '';
  const n = Math.floor(random() * 30);
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(random() * alphabet.length)];
  return s;
}

function seeded(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

describe('CsvRecords', () => {
  it('reads fields, quotes and line ends, whatever the chunking', () => {
    const text = 'a,"b,c","d""e"\r\nf,,"g\r\nh"\n\n"i"\r\nj,k';
    for (const size of [1, 2, 3, 5, 100]) {
      expect(read(text, size)).toEqual([
        { line: 1, fields: ['a', 'b,c', 'd"e'] },
        { line: 2, fields: ['f', '', 'g\r\nh'] },
        { line: 4, fields: [''] },
        { line: 5, fields: ['i'] },
        { line: 6, fields: ['j', 'k'] },
      ]);
    }
  });

  it('keeps a lone CR and a trailing empty field', () => {
    expect(read('a\rb,\n,', 1)).toEqual([
      { line: 1, fields: ['a\rb', ''] },
      { line: 2, fields: ['', ''] },
    ]);
  });

  it('refuses broken quoting and long records, naming the line', () => {
    const problem = (text: string, max = 1000): string => {
      for (const size of [1, 4, 100]) {
        const r = read(text, size, max);
        if (!(r instanceof CsvSyntaxError)) return 'accepted';
        const first = read(text, 100, max) as CsvSyntaxError;
        expect([r.problem, r.line]).toEqual([first.problem, first.line]);
      }
      return (read(text, 100, max) as CsvSyntaxError).message;
    };
    expect(problem('a\n"b\nc')).toBe('quote-not-closed (line 2)');
    expect(problem('a\nb"c\n')).toBe('invalid-opening-quote (line 2)');
    expect(problem('a\n"b"c\n')).toBe('invalid-closing-quote (line 2)');
    expect(problem('a\n"b"\rc\n')).toBe('invalid-closing-quote (line 2)');
    expect(problem('a\n"b"\r')).toBe('invalid-closing-quote (line 2)');
    expect(problem(`a\n${'x'.repeat(11)}\n`, 10)).toBe('record-too-long (line 2)');
    expect(problem(`a\n"${'x\n'.repeat(6)}"\n`, 10)).toBe('record-too-long (line 2)');
    expect(problem(`${'x'.repeat(10)}\n`, 10)).toBe('accepted');
  });

  it('reads what csv-parse reads, and refuses what it refuses (random texts)', () => {
    const random = seeded(42);
    let compared = 0;
    for (let k = 0; k < 5000; k++) {
      const text = randomCsv(random);
      const expected = oracle(text);
      for (const size of [1, 3, 64]) {
        const got = read(text, size);
        if (expected === 'error')
          expect([text, got instanceof CsvSyntaxError]).toEqual([text, true]);
        else expect([text, got]).toEqual([text, expected]);
      }
      compared++;
    }
    expect(compared).toBe(5000);
  });
});
