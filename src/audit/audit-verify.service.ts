import { Injectable, Logger } from '@nestjs/common';
import type { AppRef } from '../kernel/app-ref.js';
import { AuditChainRepository, type LanePosition } from './audit-chain.repository.js';
import { readChain } from './chain-copy.js';
import { ChainVerifier } from './domain/audit-chain.js';
import type { AuditVerifyResponseDto } from './dto/audit-chain.dto.js';
import { checkpointHeads, checkpointSignatureValid } from './domain/checkpoint.js';
import { checkpointFieldsOf } from './audit-checkpoint.entity.js';

/** How a walk of a chain ended. */
export interface ChainWalk {
  failed: { recordId: string; reason: string } | null;
  records: number;
  /** The head of each lane walked, in lane order (recordId null: an empty lane). */
  heads: LaneWalkHead[];
  checkpoints: number;
}

export interface LaneWalkHead {
  lane: number;
  records: number;
  recordId: string | null;
  hash: Buffer;
  seq: bigint;
}

/** A checkpoint as the walk checks it: the position and hash it signed, and its validity. */
interface KnownCheckpoint {
  id: string;
  recordId: string;
  seq: bigint;
  hash: Buffer;
  signatureValid: boolean;
  signedAt: string;
}

/** The checkpoints of an app by lane, then by the position they signed in it. */
type KnownCheckpoints = Map<number, Map<bigint, KnownCheckpoint[]>>;

/**
 * Verifies an app's hash chain, every lane of it, from its first record (or after a trusted
 * head) to its head, streamed (one COPY per lane, read as it comes: constant memory whatever the
 * length), stopping at the first bad record; and every stored checkpoint of the app against it:
 * its signature, and the hash at each position it signed (a checkpoint past the end of a lane
 * means records were removed).
 */
@Injectable()
export class AuditVerifyService {
  private readonly logger = new Logger('AuditVerify');

  constructor(private readonly chain: AuditChainRepository) {}

  async verify(app: AppRef): Promise<AuditVerifyResponseDto> {
    const walk = await this.walk(app, undefined, await this.knownCheckpoints(app));
    if (walk.failed) {
      this.logger.warn(
        `audit chain of app=${app.appId} fails at record ${walk.failed.recordId}: ${walk.failed.reason}`,
      );
      return {
        verified: false,
        records: walk.records,
        checkpoints: walk.checkpoints,
        first_bad_record_id: walk.failed.recordId,
        reason: walk.failed.reason,
      };
    }
    const lane0 = walk.heads.find((h) => h.lane === 0 && h.recordId !== null);
    return {
      verified: true,
      records: walk.records,
      checkpoints: walk.checkpoints,
      head_record_id: lane0?.recordId ?? null,
      head_hash: lane0 ? lane0.hash.toString('hex') : null,
      lanes: walk.heads
        .filter((h) => h.recordId !== null)
        .map((h) => ({
          lane: h.lane,
          records: h.records,
          chain_seq: h.seq.toString(),
          head_record_id: h.recordId!,
          head_hash: h.hash.toString('hex'),
        })),
    };
  }

  private async knownCheckpoints(app: AppRef): Promise<KnownCheckpoints> {
    const byLane: KnownCheckpoints = new Map();
    for (const c of await this.chain.checkpoints(app)) {
      const fields = checkpointFieldsOf(c);
      const signatureValid = checkpointSignatureValid(fields, c.signature, c.public_key);
      for (const head of checkpointHeads(fields)) {
        const seq = BigInt(head.chain_seq);
        const known: KnownCheckpoint = {
          id: c.id,
          recordId: head.record_id,
          seq,
          hash: Buffer.from(head.head_hash, 'hex'),
          signedAt: c.signed_at.toISOString(),
          signatureValid,
        };
        let positions = byLane.get(head.lane);
        if (!positions) byLane.set(head.lane, (positions = new Map()));
        positions.set(seq, [...(positions.get(seq) ?? []), known]);
      }
    }
    return byLane;
  }

  /**
   * Walks every lane of the chain (the lanes with records, and those the checkpoints or `after`
   * name), each after its trusted head in `after` (a checkpoint already verified) when given,
   * checking the checkpoints met on the way; stops at the first problem.
   */
  async walk(
    app: AppRef,
    after: ReadonlyMap<number, LanePosition> = new Map(),
    checkpoints: KnownCheckpoints = new Map(),
  ): Promise<ChainWalk> {
    const lanes = new Set([
      ...(await this.chain.lanesOf(app)),
      ...after.keys(),
      ...checkpoints.keys(),
    ]);
    const walk: ChainWalk = { failed: null, records: 0, heads: [], checkpoints: 0 };
    for (const lane of [...lanes].sort((a, b) => a - b)) {
      const head = await this.walkLane(app, lane, after.get(lane), checkpoints.get(lane), walk);
      walk.heads.push(head);
      if (walk.failed) break;
    }
    return walk;
  }

  private async walkLane(
    app: AppRef,
    lane: number,
    after: LanePosition | undefined,
    checkpoints: Map<bigint, KnownCheckpoint[]> = new Map(),
    walk: ChainWalk,
  ): Promise<LaneWalkHead> {
    const verifier = new ChainVerifier(after);
    const where = lane === 0 ? '' : ` of lane ${lane}`;
    await readChain(app, await this.chain.copyChain(app, lane, after?.seq), (record) => {
      if (!verifier.add(record)) return false;
      for (const c of checkpoints.get(record.seq) ?? []) {
        walk.checkpoints++;
        if (!c.signatureValid) {
          verifier.reject(record.id, `checkpoint ${c.id} (${c.signedAt}) has an invalid signature`);
        } else if (!record.hashIs(c.hash) || c.recordId !== record.id) {
          verifier.reject(
            record.id,
            `the chain differs from checkpoint ${c.id} (${c.signedAt}) at its position ${c.seq}${where}: history before it was rewritten`,
          );
        }
      }
      return !verifier.failed;
    });
    if (!verifier.failed) {
      const end = verifier.head.seq;
      for (const [seq, list] of checkpoints) {
        if (seq > end) {
          verifier.reject(
            list[0]!.recordId,
            `checkpoint ${list[0]!.id} (${list[0]!.signedAt}) signed position ${seq}${where}, but the chain ends at ${end}: records were removed`,
          );
          break;
        }
      }
    }
    walk.failed ??= verifier.failed;
    walk.records += verifier.records;
    return { lane, records: verifier.records, ...verifier.head };
  }
}
