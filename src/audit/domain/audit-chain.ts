// The audit trail's hash chain, framework-free: the canonical encoding of a record and its hash,
// and the check of a chain, record after record. The database makes every hash (the trigger of
// migration 1764800000000, consent_audit_canonical); this is the same encoding in JS, for the
// service's verification and for the offline check of an evidence bundle. The two are kept equal
// by a test over random records.
import { hash as oneShot } from 'node:crypto';

// One-shot hashing (crypto.hash) over a scratch buffer reused from call to call: a new Hash
// object per record cost more than the SHA-256 itself when a million records are verified.
let scratch = Buffer.allocUnsafe(4096);

/** SHA-256(prefix || UTF-8 of text), with the scratch buffer. */
function sha256After(prefix: Buffer, text: string): Buffer {
  const need = prefix.length + Buffer.byteLength(text, 'utf8');
  if (scratch.length < need) scratch = Buffer.allocUnsafe(Math.max(need, scratch.length * 2));
  prefix.copy(scratch, 0);
  const n = scratch.write(text, prefix.length, 'utf8');
  return oneShot('sha256', scratch.subarray(0, prefix.length + n), 'buffer');
}

/** SHA-256(prefix || bytes), with the scratch buffer. */
export function hashAfterBytes(prefix: Buffer, bytes: Buffer): Buffer {
  const need = prefix.length + bytes.length;
  if (scratch.length < need) scratch = Buffer.allocUnsafe(Math.max(need, scratch.length * 2));
  prefix.copy(scratch, 0);
  bytes.copy(scratch, prefix.length);
  return oneShot('sha256', scratch.subarray(0, need), 'buffer');
}

/** The first field of every encoding: the encoding's version. */
export const CHAIN_ENCODING = 'consent-gate-audit-v1';
/** The prev_hash of an app's first record. */
export const GENESIS_HASH = Buffer.alloc(32);

/**
 * The values a record's hash covers, as texts (what the database renders them as): times are
 * microseconds since the Unix epoch, the identity is covered by its keyed hash (identity_key,
 * hex) and free texts by their SHA-256 (hex), so that an erasure can remove the clear values and
 * the chain still verifies.
 */
export interface ChainedFields {
  chain_seq: string;
  id: string;
  kind: string;
  project_id: string;
  app_id: string;
  identity_key: string | null;
  list_type: string | null;
  origin: string | null;
  operation: string | null;
  outcome: string | null;
  actor: string;
  reason_sha256: string | null;
  evidence_sha256: string | null;
  batch_id: string | null;
  event_time_us: string;
  recorded_at_us: string;
  claimed_event_time_us: string | null;
  import_id: string | null;
  source: string | null;
}

/** The fields in the order of the encoding (after CHAIN_ENCODING). */
export const CHAINED_FIELDS: readonly (keyof ChainedFields)[] = [
  'chain_seq',
  'id',
  'kind',
  'project_id',
  'app_id',
  'identity_key',
  'list_type',
  'origin',
  'operation',
  'outcome',
  'actor',
  'reason_sha256',
  'evidence_sha256',
  'batch_id',
  'event_time_us',
  'recorded_at_us',
  'claimed_event_time_us',
  'import_id',
  'source',
];

/**
 * The canonical encoding: a JSON array of CHAIN_ENCODING and the fields (texts or null), written
 * as PostgreSQL's json_build_array(...)::text writes it (", " between elements; strings escaped
 * as JSON.stringify escapes them, which is what PostgreSQL does for valid UTF-8).
 */
export function canonicalEncoding(f: ChainedFields): string {
  let out = ENCODING_HEAD;
  for (const name of CHAINED_FIELDS) {
    const v = f[name];
    // JSON.stringify escapes only quotes, backslashes, control characters and lone surrogates:
    // a text without any is quoted as it is (most fields are numbers, hex, enums: a third faster).
    out +=
      v === null ? ', null' : NEEDS_ESCAPE.test(v) ? ', ' + JSON.stringify(v) : ', "' + v + '"';
  }
  return out + ']';
}

const ENCODING_HEAD = '[' + JSON.stringify(CHAIN_ENCODING);
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** hash = SHA-256(prev_hash || UTF-8 of the canonical encoding). */
export function recordHash(prev: Buffer, f: ChainedFields): Buffer {
  return sha256After(prev, canonicalEncoding(f));
}

/** SHA-256 of a text (UTF-8), hex; null stays null. The digest of reason and evidence. */
export function textDigest(text: string | null): string | null {
  return text === null ? null : oneShot('sha256', text, 'hex');
}

/**
 * HMAC-SHA256 of identities with the service's identity key (a 32-byte secret): SHA-256 of the
 * outer pad and SHA-256(inner pad || identity), two one-shot hashes (a fraction of the cost of a
 * new Hmac per call).
 */
export class IdentityKeyer {
  private readonly ipad: Buffer;
  /** opad || the inner digest (written per identity). */
  private readonly outer = Buffer.alloc(96);

  constructor(key: Buffer) {
    if (key.length > 64) throw new Error('identity key longer than a SHA-256 block');
    const pad = (byte: number) => {
      const p = Buffer.alloc(64, byte);
      for (let i = 0; i < key.length; i++) p[i] = key[i]! ^ byte;
      return p;
    };
    this.ipad = pad(0x36);
    pad(0x5c).copy(this.outer, 0);
  }

  /** From the stored pads (hex of ipad || opad, as migration 1764800000000 stores them). */
  static fromPads(padsHex: string): IdentityKeyer {
    const ipad = Buffer.from(padsHex.slice(0, 128), 'hex');
    if (ipad.length !== 64) throw new Error('malformed identity key pads');
    const key = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) key[i] = ipad[i]! ^ 0x36;
    return new IdentityKeyer(key);
  }

  keyOf(identity: string): Buffer {
    sha256After(this.ipad, identity).copy(this.outer, 64);
    return oneShot('sha256', this.outer, 'buffer');
  }
}

/**
 * One stored record as verification reads it: its position and id, the UTF-8 of its canonical
 * encoding rendered from the stored values, whether the clear identity (when stored) matches its
 * keyed hash, and the stored hashes (compared and hashed through methods, so that a reader can
 * do so where the bytes lie: see chain-copy.ts).
 */
export interface StoredChainRecord {
  seq: bigint;
  id: string;
  /**
   * Whether the clear identity matches its keyed hash (identity_key): null when no clear
   * identity is stored (a record about no identity, or erased). The service's check reads it
   * from the database, which has the key.
   */
  identityMatches: boolean | null;
  readonly encoding: Buffer;
  readonly prevHash: Buffer;
  readonly hash: Buffer;
  /** Whether the stored prev_hash is h. */
  prevHashIs(h: Buffer): boolean;
  /** Whether the stored hash is h. */
  hashIs(h: Buffer): boolean;
  /** SHA-256(prev || encoding): the hash the record has after a record whose hash is prev. */
  hashAfter(prev: Buffer): Buffer;
}

/** A StoredChainRecord of plain values. */
export function storedChainRecord(r: {
  seq: bigint;
  id: string;
  identityMatches: boolean | null;
  encoding: Buffer;
  prevHash: Buffer;
  hash: Buffer;
}): StoredChainRecord {
  return {
    ...r,
    prevHashIs: (h) => r.prevHash.equals(h),
    hashIs: (h) => r.hash.equals(h),
    hashAfter: (prev) => hashAfterBytes(prev, r.encoding),
  };
}

export type ChainProblem = { recordId: string; reason: string };

/**
 * Checks an app's records one after the other, in chain order, at constant memory: positions
 * 1, 2, 3, ... without gaps, each prev_hash the previous hash, each hash recomputed from the
 * stored values, each clear identity against its keyed hash (when known). The first
 * problem is kept and nothing after it is checked.
 */
export class ChainVerifier {
  private expectedSeq = 1n;
  private prev: Buffer = GENESIS_HASH;
  private headId: string | null = null;
  private problem: ChainProblem | null = null;
  records = 0;

  /** From the start of the chain, or after a trusted head (a checkpoint already verified). */
  constructor(after?: { seq: bigint; hash: Buffer; recordId: string }) {
    if (after) {
      this.expectedSeq = after.seq + 1n;
      this.prev = after.hash;
      this.headId = after.recordId;
    }
  }

  /** Records a problem found outside the record itself (e.g. a checkpoint that disagrees). */
  reject(recordId: string, reason: string): void {
    this.problem ??= { recordId, reason };
  }

  get failed(): ChainProblem | null {
    return this.problem;
  }

  /** The last good record: its id (null before the first), hash and position. */
  get head(): { recordId: string | null; hash: Buffer; seq: bigint } {
    return { recordId: this.headId, hash: this.prev, seq: this.expectedSeq - 1n };
  }

  /** Feeds the next record; false once a problem was found (then stop feeding). */
  add(r: StoredChainRecord): boolean {
    if (this.problem) return false;
    const fail = (reason: string): boolean => {
      this.problem = { recordId: r.id, reason };
      return false;
    };
    if (r.seq < 1n) return fail('the record has no chain position (written outside the chain)');
    if (r.seq !== this.expectedSeq) {
      return fail(
        r.seq > this.expectedSeq
          ? `chain position ${r.seq} follows ${this.expectedSeq - 1n}: ${r.seq - this.expectedSeq} record(s) missing before it`
          : `chain position ${r.seq} repeats or goes back (expected ${this.expectedSeq})`,
      );
    }
    if (!r.prevHashIs(this.prev)) {
      return fail('prev_hash is not the hash of the record before it in the chain');
    }
    if (r.identityMatches === false) {
      return fail('the identity does not match its keyed hash (identity_key)');
    }
    const hash = r.hashAfter(this.prev);
    if (!r.hashIs(hash)) {
      return fail('the stored values do not hash to the stored hash (the record was changed)');
    }
    this.prev = hash;
    this.headId = r.id;
    this.expectedSeq++;
    this.records++;
    return true;
  }
}
