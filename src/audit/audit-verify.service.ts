import { Injectable, Logger } from '@nestjs/common';
import type { AppRef } from '../kernel/app-ref.js';
import { AuditChainRepository } from './audit-chain.repository.js';
import { readChain } from './chain-copy.js';
import { ChainVerifier } from './domain/audit-chain.js';
import type { AuditVerifyResponseDto } from './dto/audit-chain.dto.js';
import { checkpointSignatureValid } from './domain/checkpoint.js';
import { checkpointFieldsOf } from './audit-checkpoint.entity.js';

/** How a walk of a chain ended. */
export interface ChainWalk {
  failed: { recordId: string; reason: string } | null;
  records: number;
  head: { recordId: string | null; hash: Buffer; seq: bigint };
  checkpoints: number;
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

/**
 * Verifies an app's hash chain from its first record (or after a trusted head) to its head,
 * streamed (one COPY, read as it comes: constant memory whatever the length), stopping at the
 * first bad record; and every stored checkpoint of the app against it: its signature, and the
 * hash at its position (a checkpoint past the end of the chain means records were removed).
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
    return {
      verified: true,
      records: walk.records,
      checkpoints: walk.checkpoints,
      head_record_id: walk.head.recordId,
      head_hash: walk.head.recordId === null ? null : walk.head.hash.toString('hex'),
    };
  }

  private async knownCheckpoints(app: AppRef): Promise<Map<bigint, KnownCheckpoint[]>> {
    const byPosition = new Map<bigint, KnownCheckpoint[]>();
    for (const c of await this.chain.checkpoints(app)) {
      const seq = BigInt(c.chain_seq);
      const known: KnownCheckpoint = {
        id: c.id,
        recordId: c.record_id,
        seq,
        hash: c.head_hash,
        signedAt: c.signed_at.toISOString(),
        signatureValid: checkpointSignatureValid(checkpointFieldsOf(c), c.signature, c.public_key),
      };
      byPosition.set(seq, [...(byPosition.get(seq) ?? []), known]);
    }
    return byPosition;
  }

  /**
   * Walks the chain after `after` (a trusted head), checking the checkpoints met on the way.
   */
  async walk(
    app: AppRef,
    after?: { seq: bigint; hash: Buffer; recordId: string },
    checkpoints = new Map<bigint, KnownCheckpoint[]>(),
  ): Promise<ChainWalk> {
    const verifier = new ChainVerifier(after);
    let checked = 0;
    await readChain(app, await this.chain.copyChain(app, after?.seq), (record) => {
      if (!verifier.add(record)) return false;
      for (const c of checkpoints.get(record.seq) ?? []) {
        checked++;
        if (!c.signatureValid) {
          verifier.reject(record.id, `checkpoint ${c.id} (${c.signedAt}) has an invalid signature`);
        } else if (!record.hashIs(c.hash) || c.recordId !== record.id) {
          verifier.reject(
            record.id,
            `the chain differs from checkpoint ${c.id} (${c.signedAt}) at its position ${c.seq}: history before it was rewritten`,
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
            `checkpoint ${list[0]!.id} (${list[0]!.signedAt}) signed position ${seq}, but the chain ends at ${end}: records were removed`,
          );
          break;
        }
      }
    }
    return {
      failed: verifier.failed,
      records: verifier.records,
      head: verifier.head,
      checkpoints: checked,
    };
  }
}
