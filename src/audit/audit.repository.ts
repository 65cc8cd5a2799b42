import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Pool } from 'pg';
import { DataSource, EntityManager } from 'typeorm';
import { AuditRecordKind, ConsentMode, ListType } from '../consent/domain/consent-types.js';
import { PG_POOL } from '../database/database.module.js';
import type { AppRef } from '../kernel/app-ref.js';
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

/**
 * "Recorded by `at`": `at` names a millisecond (the resolution of every time the API shows), so
 * a record counts when its recorded_at, as the API shows it, is not after `at`. $1 is `at`.
 */
const RECORDED_BY = `recorded_at < $1::timestamptz + interval '1 millisecond'`;

/**
 * The latest record that set each (identity, list)'s state by `at`, and whether it left the
 * identity on the list, for the identities ($4, duplicates allowed) and lists ($5) asked. The
 * state of a list is only ever set by an applied consent change (OPT_OUT: INSERT; OPT_IN:
 * DELETE; NO_CHANGE and SUPERSEDED records change nothing, see domain/transition.ts) or by an
 * event-time repair (migration 1764300000000, evidence.opted_out: the state it left). One index
 * probe per identity and list (consent_audit_state_change_idx, index only); the evidence of a
 * repair record, the rare case, is read from its row.
 */
const OPT_OUTS_RECORDED_BY = `
  SELECT i.identity, l.list_type, a.id::text AS audit_record_id
    FROM (SELECT DISTINCT unnest($4::varchar[]) AS identity) i
   CROSS JOIN unnest($5::varchar[]) AS l(list_type)
   CROSS JOIN LATERAL (
     SELECT c.id, c.operation FROM consent_audit c
      WHERE c.project_id = $2 AND c.app_id = $3 AND c.identity = i.identity
        AND c.list_type = l.list_type
        AND ((c.kind = 'CONSENT_CHANGE' AND c.outcome = 'APPLIED') OR c.kind = 'EVENT_TIME_REPAIRED')
        AND c.${RECORDED_BY}
      ORDER BY c.id DESC LIMIT 1
   ) a
   WHERE CASE WHEN a.operation IS NOT NULL THEN a.operation <> 'OPERATION_DELETE'
              ELSE (SELECT (r.evidence->>'opted_out')::boolean FROM consent_audit r WHERE r.id = a.id)
         END`;

/**
 * The app's mode by `at` (the latest SETTINGS_CHANGE record; null when there is none) and the
 * database's clock. Only SETTINGS_CHANGE records have no identity (consent_audit_identity_check):
 * consent_audit_identity_idx finds them.
 */
const MODE_RECORDED_BY = `
  SELECT now() AS db_now,
         (SELECT evidence->>'mode' FROM consent_audit
           WHERE project_id = $2 AND app_id = $3 AND identity IS NULL AND kind = 'SETTINGS_CHANGE'
             AND ${RECORDED_BY}
           ORDER BY id DESC LIMIT 1) AS mode`;

/** The append-only audit trail. There is deliberately no update or delete method. */
@Injectable()
export class AuditRepository {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

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

  /**
   * For each of `identities` (normalised) and `lists`: the id of the record that left the
   * identity on the list by `at` (see OPT_OUTS_RECORDED_BY), when it was on it then. One query
   * for any number of identities; unnamed, so planned with its values (as the ordinary check's).
   *
   * Without JIT: thousands of index probes are estimated above jit_above_cost, and PostgreSQL
   * would compile the plan anew on every call (an unnamed statement is never reused): about
   * 90 ms in EXPLAIN ANALYZE of a 10,000-identity check on the bench data (a loaded machine),
   * for no gain. `SET LOCAL` in a read-only transaction of its own keeps the setting to this
   * statement (one round trip more, and one for COMMIT).
   */
  async optOutsRecordedBy(
    app: AppRef,
    identities: readonly string[],
    lists: readonly ListType[],
    at: Date,
  ): Promise<{ identity: string; list_type: ListType; audit_record_id: string }[]> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN READ ONLY; SET LOCAL jit = off');
      const result = await client.query<{
        identity: string;
        list_type: ListType;
        audit_record_id: string;
      }>({
        text: OPT_OUTS_RECORDED_BY,
        values: [at, app.projectId, app.appId, identities, lists],
      });
      await client.query('COMMIT');
      return result.rows;
    } catch (e) {
      // Leave no transaction open on a pooled connection; one that cannot roll back is dropped.
      await client.query('ROLLBACK').catch((rollback: Error) => (broken = rollback));
      throw e;
    } finally {
      client.release(broken);
    }
  }

  /**
   * The app's mode by `at` from its SETTINGS_CHANGE records (null when none was recorded by
   * then), and the database's clock now.
   */
  async modeRecordedBy(app: AppRef, at: Date): Promise<{ mode: ConsentMode | null; now: Date }> {
    const result = await this.pool.query<{ db_now: Date; mode: string | null }>({
      text: MODE_RECORDED_BY,
      values: [at, app.projectId, app.appId],
    });
    const row = result.rows[0]!;
    const mode = Object.values(ConsentMode).includes(row.mode as ConsentMode)
      ? (row.mode as ConsentMode)
      : null;
    return { mode, now: row.db_now };
  }
}
