import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditRecordKind } from '../consent/domain/consent-types.js';
import { AuditRecordEntity } from './audit-record.entity.js';
import type { NewAuditRecord } from './audit-records.js';
import { auditInsert } from './audit-sql.js';

/** One record from the parameters of append, in its order. */
const APPEND = auditInsert({
  project_id: '$1::varchar',
  app_id: '$2::varchar',
  identity: '$3::varchar',
  list_type: '$4::varchar',
  origin: '$5::varchar',
  operation: '$6::varchar',
  outcome: '$7::varchar',
  actor: '$8::varchar',
  reason: '$9::varchar',
  evidence: '$10::jsonb',
  batch_id: '$11::varchar',
  event_time: '$12::timestamptz',
  kind: '$13::varchar',
  claimed_event_time: '$14::timestamptz',
  import_id: '$15::varchar',
  source: '$16::varchar',
});

export type { NewAuditRecord } from './audit-records.js';

/** The append-only audit trail. There is deliberately no update or delete method. */
@Injectable()
export class AuditRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Appends one record (built in audit-records.ts) inside the caller's transaction; returns its id
   * and recorded_at.
   */
  async append(tx: EntityManager, r: NewAuditRecord): Promise<{ id: string; recorded_at: Date }> {
    const rows: { id: string; recorded_at: Date }[] = await tx.query(
      `${APPEND} RETURNING id, recorded_at`,
      [
        r.projectId,
        r.appId,
        r.identity,
        r.listType,
        r.origin,
        r.operation,
        r.outcome,
        r.actor,
        r.reason,
        r.evidence === undefined ? null : JSON.stringify(r.evidence),
        r.batchId,
        r.eventTime,
        r.kind,
        r.claimedEventTime ?? null,
        r.importId ?? null,
        r.source ?? null,
      ],
    );
    return { id: String(rows[0]!.id), recorded_at: rows[0]!.recorded_at };
  }

  /**
   * An identity's records, oldest (lowest id) first, at most `limit`, after audit id `afterId`;
   * only those of `kinds` when given.
   */
  async listForIdentity(
    projectId: string,
    appId: string,
    identity: string,
    limit: number,
    afterId = '0',
    kinds?: readonly AuditRecordKind[],
  ): Promise<AuditRecordEntity[]> {
    const q = this.dataSource
      .getRepository(AuditRecordEntity)
      .createQueryBuilder('a')
      .where('a.project_id = :projectId AND a.app_id = :appId AND a.identity = :identity', {
        projectId,
        appId,
        identity,
      })
      .andWhere('a.id > :afterId', { afterId });
    if (kinds) q.andWhere('a.kind IN (:...kinds)', { kinds });
    return q.orderBy('a.id', 'ASC').limit(limit).getMany();
  }
}
