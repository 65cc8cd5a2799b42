// An incremental RFC 4180 CSV tokenizer for import files, framework-free: text in, records out,
// each with the physical line it starts on. Written for the import's volume (a million rows read
// in about a second, against six to ten seconds for csv-parse with the line information an
// import needs: bench/README.md, *Import benchmark*), with the rules the import documents:
// - fields are separated by `,` and records by LF or CRLF (a lone CR is part of a field);
// - a field that starts with `"` is quoted: it may hold `,`, line breaks and `""` (one quote),
//   and its closing quote must be followed by `,`, a line break or the end of the file;
// - a quote inside an unquoted field, a quoted field never closed and a record longer than
//   `maxRecordChars` are syntax errors (CsvSyntaxError), which end the reading.
// A leading BOM is the caller's to drop.

/** Why a CSV file cannot be read, and the physical line where it was found. */
export class CsvSyntaxError extends Error {
  constructor(
    readonly problem:
      'quote-not-closed' | 'invalid-closing-quote' | 'invalid-opening-quote' | 'record-too-long',
    readonly line: number,
  ) {
    super(`${problem} (line ${line})`);
  }
}

export interface CsvRecord {
  /** The 1-based physical line the record starts on. */
  line: number;
  fields: string[];
}

const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;

const enum State {
  /** At the start of a field (also of a record). */
  FieldStart,
  Unquoted,
  Quoted,
  /** A quote inside a quoted field, the last character of a chunk: closing, or the first of `""`. */
  QuotePending,
  /** After a quoted field's closing quote. */
  Closed,
  /** A CR after a closing quote, the last character of a chunk. */
  ClosedCr,
}

export class CsvRecords {
  private state = State.FieldStart;
  private fields: string[] = [];
  /** The current field's text read in earlier chunks (or before a `""`). */
  private field = '';
  /** Physical line of the next character. */
  private line = 1;
  private recordLine = 1;
  /** Whether the current record has any character yet (a file's last record needs no LF). */
  private inRecord = false;
  /** Characters of the current record before the current chunk's start. */
  private recordChars = 0;

  constructor(private readonly maxRecordChars: number) {}

  /** Reads one chunk of text; appends the records it completes to `out`. */
  push(text: string, out: CsvRecord[]): void {
    const n = text.length;
    let i = 0;
    let recordStart = 0;
    while (i < n) {
      switch (this.state) {
        case State.FieldStart: {
          if (!this.inRecord) {
            this.inRecord = true;
            this.recordLine = this.line;
            this.recordChars = 0;
            recordStart = i;
          }
          if (text.charCodeAt(i) === QUOTE) {
            this.state = State.Quoted;
            i++;
          } else {
            this.state = State.Unquoted;
          }
          break;
        }
        case State.Unquoted: {
          let j = i;
          let c = 0;
          while (j < n) {
            c = text.charCodeAt(j);
            if (c === COMMA || c === LF || c === QUOTE) break;
            j++;
          }
          if (j === n) {
            this.field += text.slice(i, j);
            i = n;
            break;
          }
          if (c === QUOTE) throw new CsvSyntaxError('invalid-opening-quote', this.line);
          let value = this.field.length > 0 ? this.field + text.slice(i, j) : text.slice(i, j);
          this.field = '';
          if (c === COMMA) {
            this.fields.push(value);
            this.state = State.FieldStart;
            i = j + 1;
            break;
          }
          let delimiter = 1;
          if (value.charCodeAt(value.length - 1) === CR) {
            value = value.slice(0, -1);
            delimiter = 2;
          }
          this.fields.push(value);
          i = j + 1;
          this.endRecord(out, i - recordStart - delimiter);
          recordStart = i;
          break;
        }
        case State.Quoted: {
          const j = text.indexOf('"', i);
          const end = j === -1 ? n : j;
          for (let k = text.indexOf('\n', i); k !== -1 && k < end; k = text.indexOf('\n', k + 1))
            this.line++;
          this.field += text.slice(i, end);
          if (j === -1) {
            i = n;
          } else if (j + 1 === n) {
            this.state = State.QuotePending;
            i = n;
          } else if (text.charCodeAt(j + 1) === QUOTE) {
            this.field += '"';
            i = j + 2;
          } else {
            this.state = State.Closed;
            i = j + 1;
          }
          break;
        }
        case State.QuotePending: {
          if (text.charCodeAt(i) === QUOTE) {
            this.field += '"';
            this.state = State.Quoted;
            i++;
          } else {
            this.state = State.Closed;
          }
          break;
        }
        case State.Closed: {
          const c = text.charCodeAt(i);
          if (c === COMMA) {
            this.fields.push(this.field);
            this.field = '';
            this.state = State.FieldStart;
            i++;
          } else if (c === LF) {
            i++;
            this.closeRecord(out, i - recordStart - 1);
            recordStart = i;
          } else if (c === CR) {
            this.state = State.ClosedCr;
            i++;
          } else {
            throw new CsvSyntaxError('invalid-closing-quote', this.line);
          }
          break;
        }
        case State.ClosedCr: {
          if (text.charCodeAt(i) !== LF)
            throw new CsvSyntaxError('invalid-closing-quote', this.line);
          i++;
          this.closeRecord(out, i - recordStart - 2);
          recordStart = i;
          break;
        }
      }
    }
    if (this.inRecord) {
      this.recordChars += n - recordStart;
      if (this.recordChars > this.maxRecordChars)
        throw new CsvSyntaxError('record-too-long', this.recordLine);
    }
  }

  /** The end of the text: the last record, if it has no line break after it. */
  end(out: CsvRecord[]): void {
    if (!this.inRecord) return;
    switch (this.state) {
      case State.Quoted:
        throw new CsvSyntaxError('quote-not-closed', this.recordLine);
      case State.ClosedCr:
        throw new CsvSyntaxError('invalid-closing-quote', this.line);
      case State.QuotePending:
      case State.Closed:
        this.fields.push(this.field);
        break;
      default:
        // Unquoted, or FieldStart after a comma: the field read so far (maybe empty).
        this.fields.push(this.field);
    }
    this.field = '';
    this.emit(out, 0);
  }

  /** A quoted field ended by a line break. */
  private closeRecord(out: CsvRecord[], chars: number): void {
    this.fields.push(this.field);
    this.field = '';
    this.endRecord(out, chars);
  }

  /** A record ended by its line break (`chars`: its characters in the current chunk, without the line break). */
  private endRecord(out: CsvRecord[], chars: number): void {
    this.emit(out, chars);
    this.line++;
  }

  private emit(out: CsvRecord[], chars: number): void {
    if (this.recordChars + chars > this.maxRecordChars)
      throw new CsvSyntaxError('record-too-long', this.recordLine);
    out.push({ line: this.recordLine, fields: this.fields });
    this.fields = [];
    this.state = State.FieldStart;
    this.inRecord = false;
  }
}
