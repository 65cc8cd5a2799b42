// Evidence bundles, framework-free: the document GET .../identities/{identity}:evidence answers,
// and its offline check (npm run verify-evidence), which needs nothing but the bundle (and, if
// given, the public key pinned elsewhere).
import { type ChainedFields, GENESIS_HASH, recordHash, textDigest } from './audit-chain.js';
import {
  type CheckpointFields,
  checkpointHeads,
  checkpointSignatureValid,
  keyIdOf,
} from './checkpoint.js';

/** The bundles the service makes: a chain segment per lane (`chains`). */
export const EVIDENCE_FORMAT = 'consent-gate-evidence-v2';
/** The bundles of an app with one lane made before lanes (`chain`): still checked. */
export const EVIDENCE_FORMAT_V1 = 'consent-gate-evidence-v1';

/** One of the identity's audit records, with its clear values, as the bundle carries it. */
export interface EvidenceRecord {
  id: string;
  /** The record's lane (absent in a v1 bundle: lane 0). */
  chain_lane?: number;
  chain_seq: string;
  kind: string;
  identity: string;
  list_type: string | null;
  origin: string | null;
  operation: string | null;
  outcome: string | null;
  actor: string;
  reason: string | null;
  /** The evidence as stored (jsonb text): what the chain's evidence digest covers. */
  evidence_text: string | null;
  /**
   * An erased record's reason and evidence are removed (null above); the SHA-256 (hex) the chain
   * covers for each stands for it. Absent otherwise.
   */
  reason_sha256?: string;
  evidence_sha256?: string;
  batch_id: string | null;
  event_time: string;
  claimed_event_time: string | null;
  recorded_at: string;
  import_id: string | null;
  source: string | null;
  hash: string;
}

/** One link of the chain segment: a record's chained fields and its hash. */
export interface ChainLink {
  fields: ChainedFields;
  hash: string;
}

export interface EvidenceBundle {
  format: string;
  generated_at: string;
  project_id: string;
  app_id: string;
  identity: string;
  identity_key: string;
  /** The identity's current lists (GET .../identities/{identity}). */
  state: {
    identity: string;
    opted_out: boolean;
    lists: { list_type: string; since: string; origin: string }[];
  };
  records: EvidenceRecord[];
  /**
   * For each lane holding records of the identity, the lane from the identity's first record in
   * it to the checkpoint's head of that lane: the hash before it, and every link (of every record
   * of the lane, about anyone: their identities as keyed hashes only). v2.
   */
  chains?: ChainSegment[];
  /** v1: the one segment, of lane 0. */
  chain?: { prev_hash: string; links: ChainLink[] };
  checkpoint: CheckpointFields & { checkpoint_id: string; public_key: string; signature: string };
  signing_key: { key_id: string; public_key: string };
}

export interface ChainSegment {
  lane: number;
  prev_hash: string;
  links: ChainLink[];
}

export interface EvidenceCheck {
  ok: boolean;
  problems: string[];
  /** What the bundle proves, line by line (when ok). */
  proves: string[];
}

const msOf = (us: string | null) => (us === null ? null : Math.floor(Number(us) / 1000));
const isoMs = (iso: string | null) => (iso === null ? null : Date.parse(iso));

/**
 * Checks a bundle offline: the checkpoint's Ed25519 signature (with the pinned key when given:
 * its key id or raw base64 public key), every link of the chain segment recomputed from its
 * fields and linked to the one before it up to the checkpoint's head, and every record of the
 * identity against its link (position, keyed identity hash, digests of its reason and evidence,
 * every other field). The clear identity cannot be checked against its keyed hash offline (that
 * needs the service's identity key): the bundle's identity_key is what the chain proves.
 */
export function checkEvidence(bundle: EvidenceBundle, pinnedKey?: string): EvidenceCheck {
  const problems: string[] = [];
  const proves: string[] = [];
  const fail = (p: string): EvidenceCheck => {
    problems.push(p);
    return { ok: false, problems, proves: [] };
  };
  const v1 = bundle?.format === EVIDENCE_FORMAT_V1;
  if (bundle?.format !== EVIDENCE_FORMAT && !v1) return fail(`not a ${EVIDENCE_FORMAT} bundle`);
  const c = bundle.checkpoint;
  const publicKey = Buffer.from(c.public_key, 'base64');
  if (publicKey.length !== 32) return fail('the checkpoint public key is not an Ed25519 key');
  if (keyIdOf(publicKey) !== c.key_id) return fail('the checkpoint key_id is not its public key');
  if (pinnedKey !== undefined && pinnedKey !== c.key_id && pinnedKey !== c.public_key) {
    return fail(`the checkpoint was signed by key ${c.key_id}, not by the pinned key`);
  }
  if (!checkpointSignatureValid(c, Buffer.from(c.signature, 'base64'), publicKey)) {
    return fail('the checkpoint signature is not valid');
  }
  if (c.project_id !== bundle.project_id || c.app_id !== bundle.app_id) {
    return fail('the checkpoint is about another app');
  }
  const segments: ChainSegment[] | undefined = v1
    ? bundle.chain && [{ lane: 0, ...bundle.chain }]
    : bundle.chains;
  if (!Array.isArray(segments) || segments.length === 0) return fail('the bundle has no chain');
  const heads = new Map(checkpointHeads(c).map((h) => [h.lane, h]));
  // Each segment: consecutive links, each hash recomputed, ending at its lane's signed head.
  const byPosition = new Map<string, ChainLink>();
  const provesSegments: string[] = [];
  for (const segment of segments) {
    const lane = segment.lane;
    const where = lane === 0 ? '' : ` of lane ${lane}`;
    const head = heads.get(lane);
    if (!head) return fail(`the checkpoint signs no head of lane ${lane}`);
    heads.delete(lane);
    const links = segment.links;
    if (!Array.isArray(links) || links.length === 0) return fail('a chain segment is empty');
    let prev: Buffer = Buffer.from(segment.prev_hash, 'hex');
    if (prev.length !== 32) return fail('a chain prev_hash is not a SHA-256');
    if (links[0]!.fields.chain_seq === '1' && !prev.equals(GENESIS_HASH)) {
      return fail(`the chain${where} starts at position 1 but prev_hash is not the genesis hash`);
    }
    for (let i = 0; i < links.length; i++) {
      const l = links[i]!;
      if (i > 0 && BigInt(l.fields.chain_seq) !== BigInt(links[i - 1]!.fields.chain_seq) + 1n) {
        return fail(
          `the chain segment${where} skips from ${links[i - 1]!.fields.chain_seq} to ${l.fields.chain_seq}`,
        );
      }
      if (l.fields.project_id !== bundle.project_id || l.fields.app_id !== bundle.app_id) {
        return fail(`link ${l.fields.chain_seq}${where} is about another app`);
      }
      const hash = recordHash(prev, l.fields);
      if (hash.toString('hex') !== l.hash) {
        return fail(
          `link ${l.fields.chain_seq}${where} (record ${l.fields.id}) does not hash to its hash`,
        );
      }
      prev = hash;
      byPosition.set(`${lane}:${l.fields.chain_seq}`, l);
    }
    const last = links[links.length - 1]!;
    if (
      last.fields.chain_seq !== head.chain_seq ||
      last.fields.id !== head.record_id ||
      last.hash !== head.head_hash
    ) {
      return fail(`the chain segment${where} does not end at the checkpoint's head${where}`);
    }
    provesSegments.push(
      `the chain${where} from position ${links[0]!.fields.chain_seq} to ${head.chain_seq} (${links.length} records) links to its signed head: none of these records was changed, removed, added or moved after they were written, up to that checkpoint`,
    );
  }
  // The identity's records against their links.
  for (const r of bundle.records) {
    const lane = v1 ? 0 : r.chain_lane;
    const l = byPosition.get(`${lane}:${r.chain_seq}`);
    if (!l) {
      return fail(
        `record ${r.id} (position ${r.chain_seq}${lane ? ` of lane ${lane}` : ''}) is not in the chain segments`,
      );
    }
    const f = l.fields;
    const expected: [string, unknown, unknown][] = [
      ['id', r.id, f.id],
      ['hash', r.hash, l.hash],
      ['identity_key', bundle.identity_key, f.identity_key],
      ['kind', r.kind, f.kind],
      ['list_type', r.list_type, f.list_type],
      ['origin', r.origin, f.origin],
      ['operation', r.operation, f.operation],
      ['outcome', r.outcome, f.outcome],
      ['actor', r.actor, f.actor],
      [
        'reason',
        r.reason === null ? (r.reason_sha256 ?? null) : textDigest(r.reason),
        f.reason_sha256,
      ],
      [
        'evidence',
        r.evidence_text === null ? (r.evidence_sha256 ?? null) : textDigest(r.evidence_text),
        f.evidence_sha256,
      ],
      ['batch_id', r.batch_id, f.batch_id],
      ['event_time', isoMs(r.event_time), msOf(f.event_time_us)],
      ['claimed_event_time', isoMs(r.claimed_event_time), msOf(f.claimed_event_time_us)],
      ['recorded_at', isoMs(r.recorded_at), msOf(f.recorded_at_us)],
      ['import_id', r.import_id, f.import_id],
      ['source', r.source, f.source],
    ];
    for (const [name, a, b] of expected) {
      if (a !== b) return fail(`record ${r.id}: its ${name} is not what the chain holds`);
    }
  }
  const signedAt = c.signed_at;
  const lanes = c.lanes?.length
    ? `; lanes ${c.lanes.map((h) => `${h.lane} at position ${h.chain_seq} (record ${h.record_id}), hash ${h.head_hash}`).join('; ')}`
    : '';
  proves.push(
    `checkpoint ${c.checkpoint_id}: app ${c.project_id}/${c.app_id}, position ${c.chain_seq} (record ${c.record_id}), hash ${c.head_hash}${lanes}, signed ${signedAt} by Ed25519 key ${c.key_id}${pinnedKey !== undefined ? ' (the pinned key)' : ' (check that this is the key you pinned)'}`,
    ...provesSegments,
    `${bundle.records.length} record(s) about identity key ${bundle.identity_key} are in it, each with the values shown:`,
  );
  for (const r of bundle.records) {
    proves.push(
      `  record ${r.id} (position ${r.chain_seq}${r.chain_lane ? ` of lane ${r.chain_lane}` : ''}), recorded ${r.recorded_at}: ${r.kind}${r.list_type ? ` ${r.list_type}` : ''}${r.operation ? ` ${r.operation}` : ''}${r.outcome ? ` ${r.outcome}` : ''}, origin ${r.origin ?? '-'}, actor ${r.actor}${r.reason ? `, reason "${r.reason}"` : ''}`,
    );
  }
  proves.push(
    `(that identity key is the service's keyed hash of ${bundle.identity}: checking it needs the service's key, so it is the service's statement, not proven offline; the current state shown (${bundle.state.lists.map((l) => l.list_type).join(', ') || 'on no list'}) is the service's answer at ${bundle.generated_at})`,
  );
  return { ok: true, problems, proves };
}
