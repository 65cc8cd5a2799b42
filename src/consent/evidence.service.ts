import { Injectable } from '@nestjs/common';
import { AuditChainRepository } from '../audit/audit-chain.repository.js';
import { AuditCheckpointService, toCheckpointDto } from '../audit/audit-checkpoint.service.js';
import { AuditRepository } from '../audit/audit.repository.js';
import { AuditSigningService } from '../audit/audit-signing.service.js';
import { chainedFieldsOf, readChain } from '../audit/chain-copy.js';
import type { ChainLink, EvidenceBundle, EvidenceRecord } from '../audit/domain/evidence.js';
import { EVIDENCE_FORMAT } from '../audit/domain/evidence.js';
import { ApiError } from '../common/api-error.js';
import type { AppRef } from '../kernel/app-ref.js';
import { toAuditRecordDto } from './audit-record-view.js';
import { ConsentService } from './consent.service.js';

/** The longest chain segment a bundle carries (about 400 bytes a link). */
export const EVIDENCE_MAX_LINKS = 200_000;

/**
 * Evidence bundles: one self-contained JSON document about one identity that an auditor checks
 * offline (npm run verify-evidence): its current state, every audit record about it with its
 * clear values, the chain segment from its first record to the earliest checkpoint that covers
 * its last one (signing a checkpoint of the head first when none does yet), that checkpoint and
 * the public key.
 */
@Injectable()
export class EvidenceService {
  constructor(
    private readonly consent: ConsentService,
    private readonly audit: AuditRepository,
    private readonly chain: AuditChainRepository,
    private readonly checkpoints: AuditCheckpointService,
    private readonly signing: AuditSigningService,
  ) {}

  async bundle(app: AppRef, asked: string): Promise<EvidenceBundle> {
    // An erased identity's records are filed under its stored form: the bundle is about that.
    const identity = await this.consent.storedIdentity(app, asked);
    const chained = await this.chain.identityChainRecords(app, identity);
    if (chained.length === 0) {
      throw ApiError.notFound('No audit record about this identity in this app.');
    }
    const lastSeq = chained[chained.length - 1]!.chain_seq;
    let checkpoint = await this.chain.checkpointCovering(app, lastSeq);
    if (!checkpoint) {
      await this.checkpoints.checkpoint(app);
      checkpoint = await this.chain.checkpointCovering(app, lastSeq);
      if (!checkpoint) throw new Error('the checkpoint just signed does not cover the record');
    }
    const firstSeq = BigInt(chained[0]!.chain_seq);
    const upTo = BigInt(checkpoint.chain_seq);
    if (upTo - firstSeq + 1n > BigInt(EVIDENCE_MAX_LINKS)) {
      throw new ApiError(
        413,
        'FAILED_PRECONDITION',
        `The identity's records span ${upTo - firstSeq + 1n} chain positions up to a checkpoint, more than a bundle carries (${EVIDENCE_MAX_LINKS}); sign checkpoints more often (AUDIT_CHECKPOINT_INTERVAL_S).`,
      );
    }
    const entities = await this.audit.listForIdentity(
      app.projectId,
      app.appId,
      identity,
      chained.length,
    );
    const byId = new Map(chained.map((c) => [c.id, c]));
    const records: EvidenceRecord[] = entities.map((e) => {
      const dto = toAuditRecordDto(e);
      const c = byId.get(dto.id)!;
      return {
        id: dto.id,
        chain_seq: c.chain_seq,
        kind: dto.kind,
        identity: dto.identity!,
        list_type: dto.list_type,
        origin: dto.origin,
        operation: dto.operation,
        outcome: dto.outcome,
        actor: dto.actor,
        reason: dto.reason,
        evidence_text: c.evidence_text,
        // An erased record's free texts are gone: the digests the chain covers stand for them.
        ...(c.reason_sha256 === null ? {} : { reason_sha256: c.reason_sha256 }),
        ...(c.evidence_sha256 === null ? {} : { evidence_sha256: c.evidence_sha256 }),
        batch_id: dto.batch_id,
        event_time: dto.event_time,
        claimed_event_time: dto.claimed_event_time,
        recorded_at: dto.recorded_at,
        import_id: dto.import_id,
        source: dto.source,
        hash: dto.hash,
      };
    });
    records.sort((a, b) => (BigInt(a.chain_seq) < BigInt(b.chain_seq) ? -1 : 1));
    const links: ChainLink[] = [];
    await readChain(app, await this.chain.copyChain(app, firstSeq - 1n, upTo), (r) => {
      links.push({ fields: chainedFieldsOf(r.encoding), hash: r.hash.toString('hex') });
      return true;
    });
    const key = this.signing.key();
    const cp = toCheckpointDto(checkpoint);
    return {
      format: EVIDENCE_FORMAT,
      generated_at: new Date().toISOString(),
      project_id: app.projectId,
      app_id: app.appId,
      identity,
      identity_key: chained[0]!.identity_key,
      state: { ...(await this.consent.identityState(app, asked)), identity },
      records,
      chain: { prev_hash: (await this.chain.prevHashAt(app, String(firstSeq)))!, links },
      checkpoint: {
        checkpoint_id: cp.checkpoint_id,
        project_id: cp.project_id,
        app_id: cp.app_id,
        chain_seq: cp.chain_seq,
        record_id: cp.record_id,
        head_hash: cp.head_hash,
        signed_at: cp.signed_at,
        key_id: cp.key_id,
        public_key: cp.public_key,
        signature: cp.signature,
      },
      signing_key: { key_id: key.key_id, public_key: key.public_key },
    };
  }
}
