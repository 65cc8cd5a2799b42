import { Injectable } from '@nestjs/common';
import { AuditChainRepository } from '../audit/audit-chain.repository.js';
import { AuditCheckpointService, toCheckpointDto } from '../audit/audit-checkpoint.service.js';
import { AuditRepository } from '../audit/audit.repository.js';
import { AuditSigningService } from '../audit/audit-signing.service.js';
import { chainedFieldsOf, readChain } from '../audit/chain-copy.js';
import type {
  ChainLink,
  ChainSegment,
  EvidenceBundle,
  EvidenceRecord,
} from '../audit/domain/evidence.js';
import { checkpointHeads } from '../audit/domain/checkpoint.js';
import { checkpointFieldsOf } from '../audit/audit-checkpoint.entity.js';
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
 * clear values, for each lane of the chain holding its records the segment from its first record
 * there to the earliest checkpoint that covers all of them (signing a checkpoint of the heads
 * first when none does yet), that checkpoint and the public key.
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
    // Per lane holding records of the identity: its first and last position there.
    const spans = new Map<number, { first: bigint; last: bigint }>();
    for (const c of chained) {
      const seq = BigInt(c.chain_seq);
      const span = spans.get(c.chain_lane);
      if (!span) spans.set(c.chain_lane, { first: seq, last: seq });
      else span.last = seq > span.last ? seq : span.last;
    }
    const needs = new Map([...spans].map(([lane, span]) => [lane, span.last]));
    let checkpoint = await this.chain.checkpointCovering(app, needs);
    if (!checkpoint) {
      await this.checkpoints.checkpoint(app);
      checkpoint = await this.chain.checkpointCovering(app, needs);
      if (!checkpoint) throw new Error('the checkpoint just signed does not cover the record');
    }
    const signedHeads = new Map(
      checkpointHeads(checkpointFieldsOf(checkpoint)).map((h) => [h.lane, BigInt(h.chain_seq)]),
    );
    let span = 0n;
    for (const [lane, { first }] of spans) span += signedHeads.get(lane)! - first + 1n;
    if (span > BigInt(EVIDENCE_MAX_LINKS)) {
      throw new ApiError(
        413,
        'FAILED_PRECONDITION',
        `The identity's records span ${span} chain positions up to a checkpoint, more than a bundle carries (${EVIDENCE_MAX_LINKS}); sign checkpoints more often (AUDIT_CHECKPOINT_INTERVAL_S).`,
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
        chain_lane: c.chain_lane,
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
    records.sort((a, b) =>
      a.chain_lane !== b.chain_lane
        ? a.chain_lane! - b.chain_lane!
        : BigInt(a.chain_seq) < BigInt(b.chain_seq)
          ? -1
          : 1,
    );
    const chains: ChainSegment[] = [];
    for (const [lane, { first }] of [...spans].sort(([a], [b]) => a - b)) {
      const links: ChainLink[] = [];
      const copy = await this.chain.copyChain(app, lane, first - 1n, signedHeads.get(lane));
      await readChain(app, copy, (r) => {
        links.push({ fields: chainedFieldsOf(r.encoding), hash: r.hash.toString('hex') });
        return true;
      });
      const prev = (await this.chain.prevHashAt(app, lane, String(first)))!;
      chains.push({ lane, prev_hash: prev, links });
    }
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
      chains,
      checkpoint: {
        checkpoint_id: cp.checkpoint_id,
        project_id: cp.project_id,
        app_id: cp.app_id,
        chain_seq: cp.chain_seq,
        record_id: cp.record_id,
        head_hash: cp.head_hash,
        signed_at: cp.signed_at,
        key_id: cp.key_id,
        ...(cp.lanes === undefined ? {} : { lanes: cp.lanes }),
        public_key: cp.public_key,
        signature: cp.signature,
      },
      signing_key: { key_id: key.key_id, public_key: key.public_key },
    };
  }
}
