// The reader of an app's chain COPY (audit-chain.repository's chainCopySql): COPY's binary
// format, one tuple a record, turned straight into the bytes of the record's canonical encoding.
// Verification reads a million records a few seconds: the binary format spares the database the
// rendering of times, numbers and hashes as text, and the reader writes the encoding byte by
// byte from the tuple (no string per field, no escape to undo), with JSON.stringify kept for the
// rare text that JSON escapes.
import { hash as oneShot } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { AppRef } from '../kernel/app-ref.js';
import {
  CHAIN_ENCODING,
  CHAINED_FIELDS,
  type ChainedFields,
  hashAfterBytes,
  type StoredChainRecord,
} from './domain/audit-chain.js';

/**
 * The columns of the chain COPY, in order, and what the reader makes of each (binary format):
 * int8 as decimal text, timestamptz as microseconds since the Unix epoch (decimal text), bytea
 * as lowercase hex, texts as they are (JSON-escaped when needed).
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
  // The digests of the free texts (an erased record's kept digests: its texts are gone), made
  // here: the database has the spare time, node is the busier side of a verification.
  `coalesce(a.reason_digest, sha256(convert_to(a.reason, 'UTF8')))`,
  `coalesce(a.evidence_digest, sha256(convert_to(a.evidence::text, 'UTF8')))`,
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
  reasonSha256: 9,
  evidenceSha256: 10,
  batchId: 11,
  eventTime: 12,
  recordedAt: 13,
  claimedEventTime: 14,
  importId: 15,
  source: 16,
  identityOk: 17,
  prevHash: 18,
  hash: 19,
} as const;

/**
 * One record of the chain as read (StoredChainRecord): valid during the callback only, the
 * reader reuses it and its buffers for the next record. Its hashes are compared where they lie
 * in the COPY data, and its hash is computed over the encoding where it was written: no buffer
 * made per record but the hash.
 */
class TupleRecord implements StoredChainRecord {
  seq = 0n;
  id = '';
  identityMatches: boolean | null = null;
  /** The COPY data and where the stored hashes lie in it (length -1: NULL). */
  buf: Buffer = Buffer.alloc(0);
  prevAt = 0;
  prevLen = 0;
  hashAt = 0;
  hashLen = 0;
  /** The encoding: out[ENCODING_AT, end). */
  out: Buffer = Buffer.alloc(0);
  end = 0;

  get encoding(): Buffer {
    return this.out.subarray(ENCODING_AT, this.end);
  }

  get prevHash(): Buffer {
    return Buffer.from(this.buf.subarray(this.prevAt, this.prevAt + Math.max(0, this.prevLen)));
  }

  get hash(): Buffer {
    return Buffer.from(this.buf.subarray(this.hashAt, this.hashAt + Math.max(0, this.hashLen)));
  }

  prevHashIs(h: Buffer): boolean {
    return sameBytes(this.buf, this.prevAt, this.prevLen, h);
  }

  hashIs(h: Buffer): boolean {
    return sameBytes(this.buf, this.hashAt, this.hashLen, h);
  }

  hashAfter(prev: Buffer): Buffer {
    if (prev.length !== ENCODING_AT) return hashAfterBytes(prev, this.encoding);
    // prev written into the room left before the encoding: one hash over one view.
    const out = this.out;
    for (let i = 0; i < ENCODING_AT; i++) out[i] = prev[i]!;
    return oneShot('sha256', out.subarray(0, this.end), 'buffer');
  }
}

/** Whether buf[at, at + len) holds the bytes of h (len -1: NULL, never equal). */
function sameBytes(buf: Buffer, at: number, len: number, h: Buffer): boolean {
  if (len !== h.length) return false;
  for (let i = 0; i < len; i++) if (buf[at + i] !== h[i]) return false;
  return true;
}

/** Where a record's encoding starts in the reader's buffer: after room for the previous hash. */
const ENCODING_AT = 32;

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
  private readonly current = new TupleRecord();
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
    private readonly each: (r: StoredChainRecord) => boolean,
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
  private record(buf: Buffer): StoredChainRecord {
    const at = this.at;
    const len = this.len;
    this.pos = ENCODING_AT;
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
    this.hex(buf, at[C.reasonSha256]!, len[C.reasonSha256]!);
    this.hex(buf, at[C.evidenceSha256]!, len[C.evidenceSha256]!);
    this.text(buf, C.batchId);
    this.micros(buf, C.eventTime);
    this.micros(buf, C.recordedAt);
    this.micros(buf, C.claimedEventTime);
    this.text(buf, C.importId);
    this.text(buf, C.source);
    this.room(1);
    this.out[this.pos++] = 0x5d; // ]
    const r = this.current;
    r.seq = len[C.seq]! < 0 ? 0n : buf.readBigInt64BE(at[C.seq]!);
    r.id = int8Text(buf, at[C.id]!);
    r.identityMatches = len[C.identityOk]! < 0 ? null : buf[at[C.identityOk]!] === 1;
    r.buf = buf;
    r.prevAt = at[C.prevHash]!;
    r.prevLen = len[C.prevHash]!;
    r.hashAt = at[C.hash]!;
    r.hashLen = len[C.hash]!;
    r.out = this.out;
    r.end = this.pos;
    return r;
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

  /** `, "<ascii>"`. */
  private quotedAscii(s: string): void {
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
    p = digits(out, p, v);
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
  each: (record: StoredChainRecord) => boolean,
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
