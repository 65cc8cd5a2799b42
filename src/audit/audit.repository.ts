import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditRecordKind } from '../consent/domain/consent-types.js';
import { AuditRecordEntity } from './audit-record.entity.js';
import type { NewAuditRecord } from './audit-records.js';

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
      `INSERT INTO consent_audit
         (project_id, app_id, identity, list_type, origin, operation, outcome, actor, reason,
          evidence, batch_id, event_time, kind, claimed_event_time)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
       RETURNING id, recorded_at`,
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
