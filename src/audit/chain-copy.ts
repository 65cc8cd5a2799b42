// The reader of an app's chain COPY (audit-chain.repository's chainCopySql): COPY's binary
// format, one tuple a record, turned straight into the bytes of the record's canonical encoding.
// Verification reads a million records a few seconds: the binary format spares the database the
// rendering of times, numbers and hashes as text, and the reader writes the encoding byte by
// byte from the tuple (no string per field, no escape to undo), with JSON.stringify kept for the
// rare text that JSON escapes.
import { hash as oneShot } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { AppRef } from '../kernel/app-ref.js';
import { CHAIN_ENCODING, CHAINED_FIELDS, type ChainedFields } from './domain/audit-chain.js';

/**
 * The columns of the chain COPY, in order, and what the reader makes of each (binary format):
 * int8 as decimal text, timestamptz as microseconds since the Unix epoch (decimal text), bytea
 * as lowercase hex, texts as they are (JSON-escaped when needed). reason and evidence are read
 * only when no digest of theirs is kept (an erased record keeps only the digests).
 */
export const CHAIN_COPY_COLUMNS = [
  'a.chain_seq',
  'a.id',
  'a.kind',
  'a.identity_key',
  'a.list_type',
  'a.origin',
  'a.operation',
  'a.outcome',
  'a.actor',
  'a.reason_digest',
  'CASE WHEN a.reason_digest IS NULL THEN a.reason END',
  'a.evidence_digest',
  'CASE WHEN a.evidence_digest IS NULL THEN a.evidence END',
  'a.batch_id',
  'a.event_time',
  'a.recorded_at',
  'a.claimed_event_time',
  'a.import_id',
  'a.source',
  // The clear identity against its keyed hash, with the stored key (k): true, false or NULL
  // (none). An erased identity is stored as `erased:` and the hex of its keyed hash.
  `CASE WHEN left(a.identity, 7) = 'erased:' THEN a.identity = 'erased:' || encode(a.identity_key, 'hex')
        ELSE a.identity_key = sha256(k.opad || sha256(k.ipad || convert_to(a.identity, 'UTF8'))) END`,
  'a.prev_hash',
  'a.hash',
] as const;

const NFIELDS = CHAIN_COPY_COLUMNS.length;
const C = {
  seq: 0,
  id: 1,
  kind: 2,
  identityKey: 3,
  listType: 4,
  origin: 5,
  operation: 6,
  outcome: 7,
  actor: 8,
  reasonDigest: 9,
  reason: 10,
  evidenceDigest: 11,
  evidence: 12,
  batchId: 13,
  eventTime: 14,
  recordedAt: 15,
  claimedEventTime: 16,
  importId: 17,
  source: 18,
  identityOk: 19,
  prevHash: 20,
  hash: 21,
} as const;

/** One record of the chain as read: valid during the callback only (its buffers are reused). */
export interface ChainRecord {
  /** chain_seq; 0 when the row has none (written with the chain's trigger disabled). */
  seq: bigint;
  id: string;
  /** UTF-8 of the canonical encoding (canonicalEncoding) of the stored values. */
  encoding: Buffer;
  /**
   * Whether the clear identity matches its keyed hash (identity_key), computed by the database
   * (it has the key): null when no clear identity is stored (a record about no identity, or
   * erased).
   */
  identityMatches: boolean | null;
  prevHash: Buffer;
  hash: Buffer;
}

/** The fields an encoding covers (from the encoding itself: a JSON array). */
export function chainedFieldsOf(encoding: Buffer): ChainedFields {
  const values = JSON.parse(encoding.toString('utf8')) as (string | null)[];
  const out: Record<string, string | null> = {};
  CHAINED_FIELDS.forEach((name, i) => (out[name] = values[i + 1]!));
  return out as unknown as ChainedFields;
}

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
const PG_EPOCH_US = 946_684_800_000_000;
const HEX = Array.from({ length: 256 }, (_, b) => [
  '0123456789abcdef'.charCodeAt(b >> 4),
  '0123456789abcdef'.charCodeAt(b & 15),
]);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const ascii = (s: string) => Buffer.from(s, 'latin1');
const OPEN = ascii('[' + JSON.stringify(CHAIN_ENCODING));
const NULL_FIELD = ascii(', null');

/**
 * Turns binary COPY data (the chain COPY's columns) into ChainRecords: fed chunk by chunk (cut
 * anywhere), it calls `each` per complete tuple until `each` returns false.
 */
export class ChainCopyParser {
  private pending: Buffer | null = null;
  private headerDone = false;
  private ended = false;
  private out = Buffer.allocUnsafe(2048);
  private pos = 0;
  /** Offset and length (-1: NULL) of each field of the tuple at hand. */
  private readonly at = new Int32Array(NFIELDS);
  private readonly len = new Int32Array(NFIELDS);
  /** `, "<project_id>", "<app_id>"` as the encoding writes them. */
  private readonly appFields: Buffer;

  constructor(
    app: AppRef,
    private readonly each: (r: ChainRecord) => boolean,
  ) {
    this.appFields = Buffer.from(
      `, ${JSON.stringify(app.projectId)}, ${JSON.stringify(app.appId)}`,
      'utf8',
    );
  }

  /** Whether the COPY's trailer was read. */
  get done(): boolean {
    return this.ended;
  }

  /** Parses a chunk; false once `each` asked to stop (then feed no more). */
  write(chunk: Buffer): boolean {
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let off = 0;
    if (!this.headerDone) {
      if (buf.length < 19) {
        this.pending = buf;
        return true;
      }
      if (!buf.subarray(0, 11).equals(SIGNATURE)) throw new Error('not a binary COPY');
      const extension = buf.readUInt32BE(15);
      if (buf.length < 19 + extension) {
        this.pending = buf;
        return true;
      }
      off = 19 + extension;
      this.headerDone = true;
    }
    const at = this.at;
    const len = this.len;
    while (off + 2 <= buf.length) {
      const n = buf.readInt16BE(off);
      if (n === -1) {
        this.ended = true;
        return true;
      }
      if (n !== NFIELDS) throw new Error(`malformed chain row (${n} fields)`);
      let p = off + 2;
      let complete = true;
      for (let i = 0; i < NFIELDS; i++) {
        if (p + 4 > buf.length) {
          complete = false;
          break;
        }
        const l = buf.readInt32BE(p);
        p += 4;
        at[i] = p;
        len[i] = l;
        if (l > 0) p += l;
        if (p > buf.length) {
          complete = false;
          break;
        }
      }
      if (!complete) break;
      if (!this.each(this.record(buf))) return false;
      off = p;
    }
    if (off < buf.length) this.pending = buf.subarray(off);
    return true;
  }

  /** The record of the tuple at hand (this.at / this.len over buf). */
  private record(buf: Buffer): ChainRecord {
    const at = this.at;
    const len = this.len;
    this.pos = 0;
    this.raw(OPEN);
    this.int8(buf, C.seq);
    this.int8(buf, C.id);
    this.text(buf, C.kind);
    this.raw(this.appFields);
    this.hex(buf, at[C.identityKey]!, len[C.identityKey]!);
    this.text(buf, C.listType);
    this.text(buf, C.origin);
    this.text(buf, C.operation);
    this.text(buf, C.outcome);
    this.text(buf, C.actor);
    this.digest(buf, C.reasonDigest, at[C.reason]!, len[C.reason]!);
    // jsonb in binary: a version byte (1), then the text jsonb::text renders.
    const ev = len[C.evidence]!;
    this.digest(buf, C.evidenceDigest, at[C.evidence]! + 1, ev < 0 ? -1 : ev - 1);
    this.text(buf, C.batchId);
    this.micros(buf, C.eventTime);
    this.micros(buf, C.recordedAt);
    this.micros(buf, C.claimedEventTime);
    this.text(buf, C.importId);
    this.text(buf, C.source);
    this.room(1);
    this.out[this.pos++] = 0x5d; // ]
    const seqAt = at[C.seq]!;
    const ok = len[C.identityOk]!;
    return {
      seq: len[C.seq]! < 0 ? 0n : buf.readBigInt64BE(seqAt),
      id: int8Text(buf, at[C.id]!),
      encoding: this.out.subarray(0, this.pos),
      identityMatches: ok < 0 ? null : buf[at[C.identityOk]!] === 1,
      prevHash: buf.subarray(at[C.prevHash]!, at[C.prevHash]! + Math.max(0, len[C.prevHash]!)),
      hash: buf.subarray(at[C.hash]!, at[C.hash]! + Math.max(0, len[C.hash]!)),
    };
  }

  private room(n: number): void {
    if (this.pos + n <= this.out.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.pos + n));
    this.out.copy(grown, 0, 0, this.pos);
    this.out = grown;
  }

  private raw(b: Buffer): void {
    this.room(b.length);
    const out = this.out;
    let p = this.pos;
    for (let i = 0; i < b.length; i++) out[p++] = b[i]!;
    this.pos = p;
  }

  /** `, "<ascii>"`, or `, null` for null. */
  private quotedAscii(s: string | null): void {
    if (s === null) return this.raw(NULL_FIELD);
    this.room(s.length + 4);
    const out = this.out;
    let p = this.pos;
    out[p++] = 0x2c;
    out[p++] = 0x20;
    out[p++] = QUOTE;
    for (let i = 0; i < s.length; i++) out[p++] = s.charCodeAt(i);
    out[p++] = QUOTE;
    this.pos = p;
  }

  private int8(buf: Buffer, field: number): void {
    if (this.len[field]! < 0) return this.raw(NULL_FIELD);
    this.decimal(buf, this.at[field]!, 0);
  }

  /** A timestamptz (microseconds since 2000) as microseconds since the Unix epoch. */
  private micros(buf: Buffer, field: number): void {
    if (this.len[field]! < 0) return this.raw(NULL_FIELD);
    this.decimal(buf, this.at[field]!, PG_EPOCH_US);
  }

  /** `, "<decimal of the int8 at `at`, plus `add`>"`. */
  private decimal(buf: Buffer, at: number, add: number): void {
    const hi = (buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!;
    const lo =
      ((buf[at + 4]! << 24) | (buf[at + 5]! << 16) | (buf[at + 6]! << 8) | buf[at + 7]!) >>> 0;
    // Exact in a double up to 2^53 (times far beyond year 9999); outside that (only a forged
    // row), BigInt.
    if (hi <= -0x200000 || hi >= 0x200000) {
      return this.quotedAscii((buf.readBigInt64BE(at) + BigInt(add)).toString());
    }
    let v = hi * 4294967296 + lo + add;
    this.room(24);
    const out = this.out;
    let p = this.pos;
    out[p++] = 0x2c;
    out[p++] = 0x20;
    out[p++] = QUOTE;
    if (v < 0) {
      out[p++] = 0x2d;
      v = -v;
    }
    // Digits in two parts below 10^8 (small integers: no double formatting).
    if (v >= 1e8) {
      const high = Math.floor(v / 1e8);
      p = digits(out, p, high);
      p = digits8(out, p, v - high * 1e8);
    } else {
      p = digits(out, p, v);
    }
    out[p++] = QUOTE;
    this.pos = p;
  }

  /** `, "<hex>"` of bytes, or `, null`. */
  private hex(buf: Buffer, at: number, n: number): void {
    if (n < 0) return this.raw(NULL_FIELD);
    this.room(2 * n + 4);
    const out = this.out;
    let p = this.pos;
    out[p++] = 0x2c;
    out[p++] = 0x20;
    out[p++] = QUOTE;
    for (let i = at; i < at + n; i++) {
      const h = HEX[buf[i]!]!;
      out[p++] = h[0]!;
      out[p++] = h[1]!;
    }
    out[p++] = QUOTE;
    this.pos = p;
  }

  /** The kept digest (hex), else the SHA-256 of the text (hex), else null. */
  private digest(buf: Buffer, digestField: number, textAt: number, textLen: number): void {
    const d = this.len[digestField]!;
    if (d >= 0) return this.hex(buf, this.at[digestField]!, d);
    if (textLen < 0) return this.raw(NULL_FIELD);
    const sum = oneShot('sha256', buf.subarray(textAt, textAt + textLen), 'buffer');
    this.hex(sum, 0, sum.length);
  }

  /** `, "<text>"` (JSON-escaped when needed), or `, null`. */
  private text(buf: Buffer, field: number): void {
    const n = this.len[field]!;
    if (n < 0) return this.raw(NULL_FIELD);
    const at = this.at[field]!;
    this.room(n + 4);
    const out = this.out;
    let p = this.pos;
    out[p++] = 0x2c;
    out[p++] = 0x20;
    out[p++] = QUOTE;
    for (let i = at; i < at + n; i++) {
      const b = buf[i]!;
      if (b < 0x20 || b === QUOTE || b === BACKSLASH) {
        // Something JSON escapes: the text as JSON.stringify writes it (as PostgreSQL does).
        return this.escaped(buf.toString('utf8', at, at + n));
      }
      out[p++] = b;
    }
    out[p++] = QUOTE;
    this.pos = p;
  }

  private escaped(text: string): void {
    const json = Buffer.from(', ' + JSON.stringify(text), 'utf8');
    this.raw(json);
  }
}

/** The decimal digits of n (0 <= n < 2^53, most often < 10^8) at out[p]; the end. */
function digits(out: Buffer, p: number, n: number): number {
  if (n >= 1e8) {
    const high = Math.floor(n / 1e8);
    return digits8(out, digits(out, p, high), n - high * 1e8);
  }
  let len = 1;
  for (let t = 10; t <= n; t *= 10) len++;
  let m = n | 0;
  for (let i = p + len - 1; i >= p; i--) {
    const q = (m / 10) | 0;
    out[i] = 0x30 + m - q * 10;
    m = q;
  }
  return p + len;
}

/** The 8 decimal digits of n (0 <= n < 10^8, zero-padded) at out[p]; the end. */
function digits8(out: Buffer, p: number, n: number): number {
  let m = n | 0;
  for (let i = p + 7; i >= p; i--) {
    const q = (m / 10) | 0;
    out[i] = 0x30 + m - q * 10;
    m = q;
  }
  return p + 8;
}

/** An int8 at `at` as decimal text. */
function int8Text(buf: Buffer, at: number): string {
  const hi = buf.readInt32BE(at);
  return hi > -0x200000 && hi < 0x200000
    ? String(hi * 4294967296 + buf.readUInt32BE(at + 4))
    : buf.readBigInt64BE(at).toString();
}

/**
 * Reads a chain COPY (binary format), calling `each` per record until it returns false; the COPY
 * is cut when stopped early.
 */
export async function readChain(
  app: AppRef,
  stream: Readable,
  each: (record: ChainRecord) => boolean,
): Promise<void> {
  const parser = new ChainCopyParser(app, each);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (!parser.write(chunk)) return;
    }
    if (!parser.done) throw new Error('the chain COPY ended inside a record');
  } finally {
    // Stopped early (a bad record): the COPY is cut, its connection closed.
    if (!stream.readableEnded) stream.destroy();
  }
}
