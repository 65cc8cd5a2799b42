// Streaming readers of import files: a body (any Readable) to its rows, in batches (one per chunk
// of the body), with the physical line each row starts on. Memory stays bounded whatever the file size: a row longer
// than MAX_ROW_BYTES is refused (CSV: the whole file, since its records cannot be found again;
// NDJSON: that line only).
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { CsvRecord, CsvRecords, CsvSyntaxError } from './csv-records.js';
import { ImportFormat } from './import.entity.js';
import {
  NotAnImportFileError,
  RawRow,
  readHeader,
  rowError,
  RowError,
} from './domain/import-row.js';

/** The longest row read (a CSV record, or an NDJSON line). */
export const MAX_ROW_BYTES = 64 * 1024;

/** A row read: its first physical line (1-based; the CSV header is line 1) and its fields. */
export type ReadRow = { line: number; fields: RawRow } | { line: number; error: RowError };

const NL = 0x0a;

/** What a CSV syntax error says (never the value: it may be an identity). */
function csvProblem(e: CsvSyntaxError): string {
  switch (e.problem) {
    case 'quote-not-closed':
      return 'a quoted field is not closed';
    case 'invalid-closing-quote':
      return 'a closing quote is followed by something other than a delimiter';
    case 'invalid-opening-quote':
      return 'a quote appears inside an unquoted field';
    case 'record-too-long':
      return `a record is longer than ${MAX_ROW_BYTES} characters`;
  }
}

/**
 * The rows of a CSV body, in batches (one per chunk of the body read): a header row (see
 * readHeader), then one row per record; blank lines are skipped. UTF-8 with or without a BOM,
 * LF or CRLF line ends, RFC 4180 quoting (a quoted field may span lines: its row's line is the
 * one it starts on; see csv-records.ts). A record with more fields than the header is a rejected
 * row. Throws NotAnImportFileError for a bad or missing header and for a syntax error (with its
 * line).
 */
export async function* readCsv(body: Readable): AsyncGenerator<ReadRow[]> {
  const records = new CsvRecords(MAX_ROW_BYTES);
  const decoder = new StringDecoder('utf8');
  let columns: (string | null)[] | null = null;
  let first = true;
  const rowsOf = (batch: CsvRecord[]): ReadRow[] => {
    const rows: ReadRow[] = [];
    for (const { line, fields: record } of batch) {
      if (record.length === 1 && record[0] === '') continue;
      if (!columns) {
        columns = readHeader(record);
        continue;
      }
      if (record.length > columns.length) {
        rows.push({
          line,
          error: rowError(
            line,
            '',
            `has ${record.length} fields, the header has ${columns.length}`,
          ),
        });
        continue;
      }
      const fields: RawRow = {};
      for (let i = 0; i < record.length; i++) {
        const name = columns[i];
        if (name) fields[name] = record[i];
      }
      rows.push({ line, fields });
    }
    return rows;
  };
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      let text = decoder.write(chunk);
      if (first && text.length > 0) {
        first = false;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      const batch: CsvRecord[] = [];
      records.push(text, batch);
      const rows = rowsOf(batch);
      if (rows.length > 0) yield rows;
    }
    const batch: CsvRecord[] = [];
    records.push(decoder.end(), batch);
    records.end(batch);
    const rows = rowsOf(batch);
    if (rows.length > 0) yield rows;
  } catch (e) {
    if (e instanceof CsvSyntaxError)
      throw new NotAnImportFileError(`${csvProblem(e)} (line ${e.line})`);
    throw e;
  }
  if (!columns) throw new NotAnImportFileError('the file is empty: a header row is required');
}

/** The lines of a body in batches (one per chunk), split on LF (a CR before it is dropped), a leading BOM dropped. */
async function* lines(body: Readable): AsyncGenerator<{ line: number; text: string | null }[]> {
  let line = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let tooLong = false;
  const emit = (): { line: number; text: string | null } => {
    line++;
    let buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    if (line === 1 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) buf = buf.subarray(3);
    if (buf.length > 0 && buf[buf.length - 1] === 0x0d) buf = buf.subarray(0, buf.length - 1);
    const out = { line, text: tooLong ? null : buf.toString('utf8') };
    tooLong = false;
    return out;
  };
  const add = (part: Buffer): void => {
    if (tooLong) return;
    if (pendingBytes + part.length > MAX_ROW_BYTES + 3) {
      tooLong = true;
      pending = [];
      pendingBytes = 0;
      return;
    }
    pending.push(part);
    pendingBytes += part.length;
  };
  for await (const chunk of body as AsyncIterable<Buffer>) {
    const batch: { line: number; text: string | null }[] = [];
    let from = 0;
    for (let i = chunk.indexOf(NL); i !== -1; i = chunk.indexOf(NL, from)) {
      add(chunk.subarray(from, i));
      batch.push(emit());
      from = i + 1;
    }
    if (from < chunk.length) add(chunk.subarray(from));
    if (batch.length > 0) yield batch;
  }
  if (pendingBytes > 0 || tooLong) yield [emit()];
}

/**
 * The rows of an NDJSON body, in batches (one per chunk of the body read): one JSON object per
 * line; blank lines are skipped. A line that is not a JSON object is a rejected row, but a body
 * whose first non-blank line is not JSON at all is refused (NotAnImportFileError).
 */
export async function* readNdjson(body: Readable): AsyncGenerator<ReadRow[]> {
  let seenRow = false;
  for await (const batch of lines(body)) {
    const rows: ReadRow[] = [];
    for (const { line, text } of batch) {
      if (text !== null && text.trim() === '') continue;
      if (text === null) {
        seenRow = true;
        rows.push({ line, error: rowError(line, '', `is longer than ${MAX_ROW_BYTES} bytes`) });
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        if (!seenRow) throw new NotAnImportFileError('the first line is not JSON');
        seenRow = true;
        rows.push({ line, error: rowError(line, '', 'is not valid JSON') });
        continue;
      }
      seenRow = true;
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        rows.push({ line, error: rowError(line, '', 'is not a JSON object') });
        continue;
      }
      rows.push({ line, fields: value as RawRow });
    }
    if (rows.length > 0) yield rows;
  }
}

/** The rows of an import file, in batches (see readCsv and readNdjson). */
export function readImportFile(format: ImportFormat, body: Readable): AsyncGenerator<ReadRow[]> {
  return format === ImportFormat.CSV ? readCsv(body) : readNdjson(body);
}
