// Streaming readers of import files: a body (any Readable) to its rows, one at a time, with the
// physical line each row starts on. Memory stays bounded whatever the file size: a row longer
// than MAX_ROW_BYTES is refused (CSV: the whole file, since its records cannot be found again;
// NDJSON: that line only).
import { Readable, Transform, TransformCallback, pipeline } from 'node:stream';
import { parse, CsvError } from 'csv-parse';
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

/**
 * Records the absolute offset of every line feed that passes through, so that a CSV record can be
 * given the line it starts on from its byte offset (csv-parse counts a CRLF inside a quoted field
 * as two lines). Offsets are consumed as records go by: only those of the data in flight are kept.
 */
class LineIndex extends Transform {
  private offset = 0;
  private readonly feeds: number[] = [];
  private head = 0;
  /** Line feeds before the position last asked for. */
  private passed = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    for (let i = chunk.indexOf(NL); i !== -1; i = chunk.indexOf(NL, i + 1))
      this.feeds.push(this.offset + i);
    this.offset += chunk.length;
    done(null, chunk);
  }

  /** The 1-based line of the byte at `position` (positions must not decrease between calls). */
  lineAt(position: number): number {
    while (this.head < this.feeds.length && this.feeds[this.head]! < position) {
      this.head++;
      this.passed++;
    }
    if (this.head > 4096) {
      this.feeds.splice(0, this.head);
      this.head = 0;
    }
    return this.passed + 1;
  }
}

/** What a CSV syntax error says, without the value csv-parse quotes (it may be an identity). */
function csvProblem(e: CsvError): string {
  switch (e.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted field is not closed';
    case 'CSV_INVALID_CLOSING_QUOTE':
      return 'a closing quote is followed by something other than a delimiter';
    case 'INVALID_OPENING_QUOTE':
      return 'a quote appears inside an unquoted field';
    case 'CSV_MAX_RECORD_SIZE':
      return `a record is longer than ${MAX_ROW_BYTES} characters`;
    default:
      return 'it is not valid CSV';
  }
}

/**
 * The rows of a CSV body: a header row (see readHeader), then one row per record; blank lines are
 * skipped. UTF-8 with or without a BOM, LF or CRLF line ends, RFC 4180 quoting (a quoted field may
 * span lines: its row's line is the one it starts on). A record with more fields than the header
 * is a rejected row. Throws NotAnImportFileError for a bad or missing header and for a syntax
 * error (with its line).
 */
export async function* readCsv(body: Readable): AsyncGenerator<ReadRow> {
  const index = new LineIndex();
  const parser = parse({
    bom: true,
    info: true,
    relax_column_count: true,
    skip_empty_lines: false,
    record_delimiter: ['\r\n', '\n'],
    max_record_size: MAX_ROW_BYTES,
  });
  pipeline(body, index, parser, () => undefined);
  let columns: (string | null)[] | null = null;
  let start = 0;
  try {
    for await (const item of parser as AsyncIterable<{
      record: string[];
      info: { bytes: number };
    }>) {
      const line = index.lineAt(start);
      start = item.info.bytes;
      const record = item.record;
      if (record.length === 1 && record[0] === '') continue;
      if (!columns) {
        columns = readHeader(record);
        continue;
      }
      if (record.length > columns.length) {
        yield {
          line,
          error: rowError(
            line,
            '',
            `has ${record.length} fields, the header has ${columns.length}`,
          ),
        };
        continue;
      }
      const fields: RawRow = {};
      for (let i = 0; i < record.length; i++) {
        const name = columns[i];
        if (name) fields[name] = record[i];
      }
      yield { line, fields };
    }
  } catch (e) {
    if (e instanceof CsvError) {
      throw new NotAnImportFileError(
        `${csvProblem(e)} (line ${index.lineAt(typeof e.bytes === 'number' ? Math.max(e.bytes, start) : start)})`,
      );
    }
    throw e;
  }
  if (!columns) throw new NotAnImportFileError('the file is empty: a header row is required');
}

/** The lines of a body, split on LF (a CR before it is dropped), a leading BOM dropped. */
async function* lines(body: Readable): AsyncGenerator<{ line: number; text: string | null }> {
  let line = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let tooLong = false;
  const emit = (): { line: number; text: string | null } => {
    line++;
    let buf = Buffer.concat(pending, pendingBytes);
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
    let from = 0;
    for (let i = chunk.indexOf(NL); i !== -1; i = chunk.indexOf(NL, from)) {
      add(chunk.subarray(from, i));
      yield emit();
      from = i + 1;
    }
    if (from < chunk.length) add(chunk.subarray(from));
  }
  if (pendingBytes > 0 || tooLong) yield emit();
}

/**
 * The rows of an NDJSON body: one JSON object per line; blank lines are skipped. A line that is
 * not a JSON object is a rejected row, but a body whose first non-blank line is not JSON at all
 * is refused (NotAnImportFileError).
 */
export async function* readNdjson(body: Readable): AsyncGenerator<ReadRow> {
  let seenRow = false;
  for await (const { line, text } of lines(body)) {
    if (text !== null && text.trim() === '') continue;
    if (text === null) {
      seenRow = true;
      yield { line, error: rowError(line, '', `is longer than ${MAX_ROW_BYTES} bytes`) };
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      if (!seenRow) throw new NotAnImportFileError('the first line is not JSON');
      seenRow = true;
      yield { line, error: rowError(line, '', 'is not valid JSON') };
      continue;
    }
    seenRow = true;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      yield { line, error: rowError(line, '', 'is not a JSON object') };
      continue;
    }
    yield { line, fields: value as RawRow };
  }
}

export function readImportFile(format: ImportFormat, body: Readable): AsyncGenerator<ReadRow> {
  return format === ImportFormat.CSV ? readCsv(body) : readNdjson(body);
}
