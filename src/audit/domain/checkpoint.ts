// Signed checkpoints of the audit chain, framework-free: the text a checkpoint signs, and the
// Ed25519 check of a signature with a raw public key (for the service and the offline check).
import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';

/** The first element of a checkpoint text of an app with one lane (lane 0): its version. */
export const CHECKPOINT_ENCODING = 'consent-gate-checkpoint-v1';
/** The first element of a checkpoint text that also signs the heads of other lanes. */
export const CHECKPOINT_ENCODING_LANES = 'consent-gate-checkpoint-v2';

/** The head of one lane of an app's chain other than lane 0, as a checkpoint signs it. */
export interface LaneHead {
  lane: number;
  /** Its position in the lane and its record id (decimal texts). */
  chain_seq: string;
  record_id: string;
  /** Its hash, hex. */
  head_hash: string;
}

/** What a checkpoint signs: an app's chain head, when, with which key. */
export interface CheckpointFields {
  project_id: string;
  app_id: string;
  /** The head's position in the chain and its record id (decimal texts). */
  chain_seq: string;
  record_id: string;
  /** The head's hash, hex. */
  head_hash: string;
  /** RFC 3339 in UTC with milliseconds. */
  signed_at: string;
  key_id: string;
  /**
   * The heads of the app's other lanes, in lane order (absent: the app has lane 0 only). An app
   * whose lane 0 is empty signs position 0, record 0 and the genesis hash for it.
   */
  lanes?: LaneHead[];
}

/**
 * The signed text: JSON.stringify of [CHECKPOINT_ENCODING, project_id, app_id, chain_seq,
 * record_id, head_hash, signed_at, key_id] (all strings), UTF-8; with other lanes,
 * [CHECKPOINT_ENCODING_LANES, the same seven, [[lane, chain_seq, record_id, head_hash], ...]]
 * (all strings, lanes in order).
 */
export function checkpointText(c: CheckpointFields): string {
  const fields = [
    c.project_id,
    c.app_id,
    c.chain_seq,
    c.record_id,
    c.head_hash,
    c.signed_at,
    c.key_id,
  ];
  if (c.lanes === undefined || c.lanes.length === 0) {
    return JSON.stringify([CHECKPOINT_ENCODING, ...fields]);
  }
  return JSON.stringify([
    CHECKPOINT_ENCODING_LANES,
    ...fields,
    c.lanes.map((l) => [String(l.lane), l.chain_seq, l.record_id, l.head_hash]),
  ]);
}

/** Every lane head a checkpoint signs, lane 0 first (lane 0 only when it has a record). */
export function checkpointHeads(c: CheckpointFields): LaneHead[] {
  const heads: LaneHead[] =
    c.chain_seq === '0'
      ? []
      : [{ lane: 0, chain_seq: c.chain_seq, record_id: c.record_id, head_hash: c.head_hash }];
  return [...heads, ...(c.lanes ?? [])];
}

/** A key's id: the first 16 hex digits of SHA-256 over its raw 32-byte public key. */
export function keyIdOf(rawPublicKey: Buffer): string {
  return createHash('sha256').update(rawPublicKey).digest('hex').slice(0, 16);
}

/** An Ed25519 public key from its raw 32 bytes. */
export function ed25519PublicKey(raw: Buffer): KeyObject {
  if (raw.length !== 32) throw new Error('an Ed25519 public key has 32 bytes');
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
    format: 'jwk',
  });
}

/** Whether `signature` is the Ed25519 signature of the checkpoint's text by `rawPublicKey`. */
export function checkpointSignatureValid(
  c: CheckpointFields,
  signature: Buffer,
  rawPublicKey: Buffer,
): boolean {
  try {
    return verify(
      null,
      Buffer.from(checkpointText(c), 'utf8'),
      ed25519PublicKey(rawPublicKey),
      signature,
    );
  } catch {
    return false;
  }
}
