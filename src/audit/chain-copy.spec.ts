import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { CHAIN_COPY_COLUMNS, ChainCopyParser, chainedFieldsOf } from './chain-copy.js';
import { canonicalEncoding, type ChainedFields } from './domain/audit-chain.js';

const app = { projectId: 'p1', appId: 'a1' };
/** Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
const PG_EPOCH_US = 946_684_800_000_000n;

type Value = null | Buffer;
const int8 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return b;
};
const text = (v: string | null): Value => (v === null ? null : Buffer.from(v, 'utf8'));
const sha = (v: string) => createHash('sha256').update(v, 'utf8').digest();

/** A record's stored columns, as the test writes them. */
interface Row {
  seq: bigint | null;
  id: bigint;
  kind: string;
  identityKey: Buffer | null;
  listType: string | null;
  actor: string;
  reasonDigest: Buffer | null;
  reason: string | null;
  evidenceDigest: Buffer | null;
  evidence: string | null;
  batchId: string | null;
  eventTimeUs: bigint;
  recordedAtUs: bigint;
  claimedEventTimeUs: bigint | null;
  importId: string | null;
  source: string | null;
  identityOk: boolean | null;
}

/** The binary COPY tuple of a row (CHAIN_COPY_COLUMNS' order), as PostgreSQL sends it. */
function tuple(r: Row): Buffer {
  const values: Value[] = [
    r.seq === null ? null : int8(r.seq),
    int8(r.id),
    text(r.kind),
    r.identityKey,
    text(r.listType),
    text('ORIGIN_API'),
    text('OPT_OUT'),
    text('APPLIED'),
    text(r.actor),
    // The database's digests (coalesce(kept digest, sha256(text))).
    r.reasonDigest ?? (r.reason === null ? null : sha(r.reason)),
    r.evidenceDigest ?? (r.evidence === null ? null : sha(r.evidence)),
    text(r.batchId),
    int8(r.eventTimeUs - PG_EPOCH_US),
    int8(r.recordedAtUs - PG_EPOCH_US),
    r.claimedEventTimeUs === null ? null : int8(r.claimedEventTimeUs - PG_EPOCH_US),
    text(r.importId),
    text(r.source),
    r.identityOk === null ? null : Buffer.from([r.identityOk ? 1 : 0]),
    Buffer.alloc(32, 0xaa),
    Buffer.alloc(32, 0xbb),
  ];
  expect(values).toHaveLength(CHAIN_COPY_COLUMNS.length);
  const count = Buffer.alloc(2);
  count.writeInt16BE(values.length);
  return Buffer.concat([
    count,
    ...values.flatMap((v) => {
      const l = Buffer.alloc(4);
      l.writeInt32BE(v === null ? -1 : v.length);
      return v === null ? [l] : [l, v];
    }),
  ]);
}

/** What the database's encoding holds for a row (consent_audit_canonical's inputs). */
function fieldsOf(r: Row): ChainedFields {
  const hex = (b: Buffer | null) => (b === null ? null : b.toString('hex'));
  return {
    chain_seq: r.seq === null ? (null as unknown as string) : String(r.seq),
    id: String(r.id),
    kind: r.kind,
    project_id: app.projectId,
    app_id: app.appId,
    identity_key: hex(r.identityKey),
    list_type: r.listType,
    origin: 'ORIGIN_API',
    operation: 'OPT_OUT',
    outcome: 'APPLIED',
    actor: r.actor,
    reason_sha256: hex(r.reasonDigest ?? (r.reason === null ? null : sha(r.reason))),
    evidence_sha256: hex(r.evidenceDigest ?? (r.evidence === null ? null : sha(r.evidence))),
    batch_id: r.batchId,
    event_time_us: String(r.eventTimeUs),
    recorded_at_us: String(r.recordedAtUs),
    claimed_event_time_us: r.claimedEventTimeUs === null ? null : String(r.claimedEventTimeUs),
    import_id: r.importId,
    source: r.source,
  };
}

const HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
const TRAILER = Buffer.from([0xff, 0xff]);

const base: Row = {
  seq: 7n,
  id: 1234n,
  kind: 'CONSENT_CHANGE',
  identityKey: Buffer.alloc(32, 0x3c),
  listType: 'OPT_OUT_ALL',
  actor: 'key:x',
  reasonDigest: null,
  reason: null,
  evidenceDigest: null,
  evidence: null,
  batchId: null,
  eventTimeUs: 1767322800000000n,
  recordedAtUs: 1767322800123456n,
  claimedEventTimeUs: null,
  importId: null,
  source: null,
  identityOk: true,
};

const rows: Row[] = [
  base,
  {
    ...base,
    seq: null,
    identityOk: null,
    identityKey: null,
    listType: null,
    kind: 'SETTINGS_CHANGE',
  },
  { ...base, actor: 'a "quoted" actor', batchId: 'back\\slash', source: 'tab\there' },
  { ...base, actor: 'new\nline \r and \u0001 and \u001f', importId: '01ABC', source: 'crm' },
  { ...base, actor: 'emoji 🎉 and é', source: 'ü', identityOk: false },
  { ...base, reason: 'moved away', evidence: '{"text": "STOP", "n": 1}' },
  { ...base, reasonDigest: sha('erased reason'), evidenceDigest: sha('{"x": 1}') },
  { ...base, reason: '', evidence: '{}', batchId: '' },
  // Times: before 1970, before 2000, a whole second, exactly 10^8 and beyond 2^53 (forged).
  { ...base, eventTimeUs: -123456789n, recordedAtUs: 0n, claimedEventTimeUs: 946684800000000n },
  { ...base, eventTimeUs: 100000000n, recordedAtUs: 99999999n, claimedEventTimeUs: 1000000n },
  {
    ...base,
    eventTimeUs: 2n ** 60n,
    recordedAtUs: -(2n ** 60n),
    id: 2n ** 62n,
    seq: 2n ** 53n + 1n,
  },
  { ...base, id: 1n, seq: 1n, eventTimeUs: 253402300799999999n },
];

/** Parses `data` fed in pieces cut at `cuts`, copying each record. */
function parse(data: Buffer, cuts: number[], stopAfter = Infinity) {
  const out: { encoding: string; seq: bigint; id: string; ok: boolean | null; hash: string }[] = [];
  const parser = new ChainCopyParser(app, (r) => {
    out.push({
      encoding: r.encoding.toString('utf8'),
      seq: r.seq,
      id: r.id,
      ok: r.identityMatches,
      hash: r.hash.toString('hex'),
    });
    return out.length < stopAfter;
  });
  let from = 0;
  for (const cut of [...cuts, data.length]) {
    if (!parser.write(data.subarray(from, cut))) break;
    from = cut;
  }
  return { out, done: parser.done };
}

describe('ChainCopyParser', () => {
  const data = Buffer.concat([HEADER, ...rows.map(tuple), TRAILER]);

  it('renders every record as the canonical encoding of its stored values', () => {
    const { out, done } = parse(data, []);
    expect(done).toBe(true);
    expect(out).toHaveLength(rows.length);
    rows.forEach((r, i) => {
      expect(out[i]!.encoding).toBe(canonicalEncoding(fieldsOf(r)));
      expect(out[i]!.seq).toBe(r.seq ?? 0n);
      expect(out[i]!.id).toBe(String(r.id));
      expect(out[i]!.ok).toBe(r.identityOk);
      expect(out[i]!.hash).toBe('bb'.repeat(32));
      expect(chainedFieldsOf(Buffer.from(out[i]!.encoding))).toEqual(fieldsOf(r));
    });
  });

  it('compares the stored hashes and hashes the encoding after a previous hash', () => {
    const prev = Buffer.alloc(32, 0xaa);
    const checks: boolean[][] = [];
    new ChainCopyParser(app, (r) => {
      const expected = createHash('sha256').update(prev).update(r.encoding).digest();
      const other = createHash('sha256').update(Buffer.alloc(32, 1)).update(r.encoding).digest();
      checks.push([
        r.prevHashIs(prev),
        !r.prevHashIs(Buffer.alloc(32, 0xab)),
        !r.prevHashIs(Buffer.alloc(31, 0xaa)),
        r.hashIs(Buffer.alloc(32, 0xbb)),
        !r.hashIs(prev),
        r.hashAfter(prev).equals(expected),
        r.hashAfter(Buffer.alloc(32, 1)).equals(other),
        r
          .hashAfter(Buffer.alloc(3, 7))
          .equals(createHash('sha256').update(Buffer.alloc(3, 7)).update(r.encoding).digest()),
        r.prevHash.equals(prev) && r.hash.equals(Buffer.alloc(32, 0xbb)),
      ]);
      return true;
    }).write(data);
    expect(checks).toHaveLength(rows.length);
    for (const c of checks) expect(c.every(Boolean)).toBe(true);
  });

  it('reads the same whatever the chunks are cut at', () => {
    const whole = parse(data, []).out;
    for (let cut = 1; cut < data.length; cut += 7) {
      expect(parse(data, [cut]).out).toEqual(whole);
    }
    const everyByte = Array.from({ length: data.length - 1 }, (_, i) => i + 1);
    expect(parse(data, everyByte).out).toEqual(whole);
  });

  it('stops when asked and reports an unfinished COPY', () => {
    expect(parse(data, [], 3).out).toHaveLength(3);
    expect(parse(data.subarray(0, data.length - 10), []).done).toBe(false);
  });

  it('escapes app ids that need it', () => {
    const odd = { projectId: 'p"1', appId: 'a\\N' };
    let encoding = '';
    new ChainCopyParser(odd, (r) => ((encoding = r.encoding.toString()), true)).write(data);
    expect(JSON.parse(encoding).slice(4, 6)).toEqual([odd.projectId, odd.appId]);
  });

  it('rejects what is not a chain COPY', () => {
    const parser = new ChainCopyParser(app, () => true);
    expect(() => parser.write(Buffer.from('7\t1234\tCONSENT_CHANGE\n'.repeat(2)))).toThrow(
      'not a binary COPY',
    );
    const short = Buffer.concat([HEADER, Buffer.from([0, 3])]);
    expect(() => new ChainCopyParser(app, () => true).write(short)).toThrow('3 fields');
  });
});
