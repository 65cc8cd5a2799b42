import { describe, expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import { NotAnImportFileError } from './domain/import-row.js';
import { MAX_ROW_BYTES, readCsv, readNdjson, ReadRow } from './import-file.js';

/** The body in chunks of `size` bytes (so records and CRLFs straddle chunk boundaries). */
function body(text: string, size = 3): Readable {
  const buf = Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) chunks.push(buf.subarray(i, i + size));
  return Readable.from(chunks);
}

async function all(gen: AsyncGenerator<ReadRow[]>): Promise<ReadRow[]> {
  const out: ReadRow[] = [];
  for await (const batch of gen) out.push(...batch);
  return out;
}

describe('readCsv', () => {
  it('gives each record the physical line it starts on (BOM, CRLF, LF, quoted line breaks)', async () => {
    const csv =
      '\ufeffIdentity, list_type ,reason,origin\r\n' + // 1
      '+46 70,OPT_OUT_ALL,"two\r\nlines",ORIGIN_MO\r\n' + // 2-3
      '\r\n' + // 4
      '4671,OPT_OUT_ALL,"a ""quoted""\nthree\nlines"\n' + // 5-7
      '4672,OPT_OUT_ALL,x,y,z\r\n' + // 8
      '"4673",OPT_OUT_MARKETING'; // 9
    for (const size of [1, 2, 3, 7, 1024]) {
      expect(await all(readCsv(body(csv, size)))).toEqual([
        {
          line: 2,
          fields: { identity: '+46 70', list_type: 'OPT_OUT_ALL', reason: 'two\r\nlines' },
        },
        {
          line: 5,
          fields: {
            identity: '4671',
            list_type: 'OPT_OUT_ALL',
            reason: 'a "quoted"\nthree\nlines',
          },
        },
        { line: 8, error: { line: 8, field: '', description: 'has 5 fields, the header has 4' } },
        { line: 9, fields: { identity: '4673', list_type: 'OPT_OUT_MARKETING' } },
      ]);
    }
  });

  it('refuses a bad header, an empty file and broken quoting', async () => {
    const refused = async (csv: string): Promise<string> => {
      try {
        await all(readCsv(body(csv)));
      } catch (e) {
        if (e instanceof NotAnImportFileError) return e.message;
        throw e;
      }
      return 'accepted';
    };
    expect(await refused('')).toMatch(/empty/);
    expect(await refused('\n\n')).toMatch(/empty/);
    expect(await refused('identity,list_type,colour\n')).toMatch(/unknown column "colour"/);
    // A header-less file: its first row is data and never echoed.
    const noHeader = await refused('+46 73 200 11 22,OPT_OUT_ALL\n');
    expect(noHeader).toMatch(/unknown column number 1/);
    expect(noHeader).not.toContain('200');
    expect(await refused('identity,identity,list_type\n')).toMatch(/twice/);
    expect(await refused('identity,event_time,opted_out_since,list_type\n')).toMatch(/one field/);
    expect(await refused('list_type\n')).toMatch(/no identity column/);
    expect(await refused('identity,list_type\n1,OPT_OUT_ALL\n2,"OPT\n')).toMatch(
      /not closed \(line 3\)/,
    );
    expect(await refused(`identity,list_type\n${'9'.repeat(MAX_ROW_BYTES + 1)},x\n`)).toMatch(
      /longer than/,
    );
  });
});

describe('readNdjson', () => {
  it('reads one object per line, rejecting lines that are not objects', async () => {
    const text =
      '\ufeff{"identity":"1","list_type":"OPT_OUT_ALL"}\r\n' +
      '\n' +
      '"just a string"\n' +
      '{oops\n' +
      `{"identity":"${'x'.repeat(MAX_ROW_BYTES)}"}\n` +
      '{"identity":"2","list_type":"OPT_OUT_ALL"}';
    expect(await all(readNdjson(body(text, 5)))).toEqual([
      { line: 1, fields: { identity: '1', list_type: 'OPT_OUT_ALL' } },
      { line: 3, error: { line: 3, field: '', description: 'is not a JSON object' } },
      { line: 4, error: { line: 4, field: '', description: 'is not valid JSON' } },
      {
        line: 5,
        error: { line: 5, field: '', description: `is longer than ${MAX_ROW_BYTES} bytes` },
      },
      { line: 6, fields: { identity: '2', list_type: 'OPT_OUT_ALL' } },
    ]);
  });

  it('refuses a body whose first line is not JSON', async () => {
    await expect(all(readNdjson(body('\nidentity,list_type\n{}\n')))).rejects.toThrow(
      NotAnImportFileError,
    );
  });
});
