import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Pool, PoolClient } from 'pg';
import { AppConfig } from '../config/app-config.js';
import { PG_POOL } from '../database/database.module.js';
import { AuditRecordKind, LIST_TYPES, ListType } from '../consent/domain/consent-types.js';
import { MAX_IDENTITY_LENGTH } from '../consent/domain/identity.js';
import { OutboxStatus } from './outbox-job.entity.js';
import { replyOrderingKey } from './ordering-key.js';

/** outbox_jobs.kind of a confirmation reply sent through Sinch messages:send. */
export const SINCH_REPLY = 'SINCH_REPLY';

export type ReplyAction = 'OPT_OUT' | 'OPT_IN' | 'HELP';

/** What a SINCH_REPLY job carries (outbox_jobs.payload). */
export type SinchReplyPayload = {
  /** Conversation API channel of the inbound message, e.g. SMS, WHATSAPP. */
  channel: string;
  /** The end user's channel identity, as Sinch sent it (the reply goes to it unchanged). */
  identity: string;
  /**
   * The identity normalised as the consent change used it: the reply's audit record is filed
   * under it. Absent in jobs queued before the reply outcomes were audited.
   */
  normalized_identity?: string;
  /** The keyword's list (null for HELP), kept on the reply's audit record. */
  list_type?: ListType | null;
  /** The reply text. Never logged, never returned by the API, never in last_error. */
  text: string;
  /** Sinch's id of the inbound message the reply answers. */
  inbound_message_id: string;
  action: ReplyAction;
  language: string;
};

/** A job claimed by claimDueReplies; `attempts` counts this attempt and fences the outcome. */
export interface ClaimedJob {
  id: string;
  kind: string;
  project_id: string;
  app_id: string;
  payload: unknown;
  attempts: number;
  give_up_at: Date;
  last_error: string | null;
  /**
   * True when the job was past give_up_at when it came due: the claim already marked it FAILED
   * (without this attempt being counted) and it must not be sent.
   */
  expired: boolean;
}

/** One row of the reply-jobs listing: everything but the message text. */
export interface ReplyJobRow {
  id: string;
  status: OutboxStatus;
  attempts: number;
  action: string | null;
  language: string | null;
  channel: string | null;
  identity: string | null;
  inbound_message_id: string | null;
  last_error: string | null;
  created_at: Date;
  next_attempt_at: Date;
  finished_at: Date | null;
}

/** outbox_jobs.last_error is varchar(500). */
export const MAX_LAST_ERROR_CHARS = 500;

/** consent_audit.actor of the records of the service's own confirmation replies. */
export const REPLY_AUDIT_ACTOR = 'consent-gate';

/**
 * The audit record of a reply's final outcome (REPLY_SENT / REPLY_FAILED), appended by the same
 * statement that records the outcome, and only when that write holds the claim: one per job.
 */
export interface ReplyAudit {
  /** Normalised, as in the consent change's audit record. */
  identity: string;
  listType: ListType | null;
  reason: string;
  /** Never the reply text. */
  evidence: Record<string, unknown>;
}

/** Where a job outcome is written: the pool, or a client inside the caller's transaction. */
export type OutboxDb = Pool | PoolClient;

/** A job of any kind to queue inside the caller's transaction. */
export interface NewOutboxJob {
  kind: string;
  projectId: string;
  appId: string;
  /** Stored as jsonb. */
  payload: unknown;
  /** The job is given up (FAILED) if not done this many seconds after it is queued. */
  giveUpAfterS: number;
  /**
   * Jobs with the same key are done one at a time, oldest first: a job is not attempted while an
   * older job with its key is PENDING (being attempted or waiting for a retry). Absent or null:
   * no order. See ordering-key.ts.
   */
  orderingKey?: string | null;
}

/**
 * The transactional outbox (table outbox_jobs): durable jobs written in the same transaction as
 * the change that causes them, and claimed by workers with `FOR UPDATE SKIP LOCKED`.
 *
 * Why an outbox table rather than pg-boss: pg-boss 12.x requires Node >= 22 (we run Node 20), it
 * manages its own schema outside our migrations, and an outbox row is written in the same
 * transaction as the consent change on both PostgreSQL and the embedded PGlite: a rolled-back
 * change never sends a reply, and a committed one always gets its job.
 *
 * Delivery is at least once: a job is claimed with a lease (its next_attempt_at moves past the
 * longest possible send); a worker that dies mid-send leaves the job to come back when the lease
 * ends. Every outcome write is fenced by the claim's attempt number, so a worker whose lease ran
 * out cannot overwrite the outcome of the worker that re-claimed the job.
 *
 * Every time comparison uses the database clock (now()), never the instances' clocks. The
 * worker's statements go to the pg pool directly (TypeORM's query() reshapes UPDATE results).
 */
@Injectable()
export class OutboxRepository {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly config: AppConfig,
  ) {}

  /**
   * Queues a confirmation reply inside the caller's transaction (PENDING, due now, given up
   * REPLY_GIVE_UP_AFTER_S from now). Returns the job id. Nothing is sent unless `tx` commits.
   * Replies to one recipient (project, app, channel, normalised identity) are sent one at a
   * time, in the order they were queued.
   */
  async enqueueReply(
    tx: EntityManager,
    job: { projectId: string; appId: string; payload: SinchReplyPayload },
  ): Promise<string> {
    const p = job.payload;
    // Only the known fields are stored, in a fixed shape.
    const payload: SinchReplyPayload = {
      channel: p.channel,
      identity: p.identity,
      normalized_identity: p.normalized_identity,
      list_type: p.list_type ?? null,
      text: p.text,
      inbound_message_id: p.inbound_message_id,
      action: p.action,
      language: p.language,
    };
    return this.enqueue(tx, {
      kind: SINCH_REPLY,
      projectId: job.projectId,
      appId: job.appId,
      payload,
      giveUpAfterS: this.config.REPLY_GIVE_UP_AFTER_S,
      orderingKey: replyOrderingKey(
        job.projectId,
        job.appId,
        p.channel,
        p.normalized_identity ?? p.identity,
      ),
    });
  }

  /**
   * Queues a job of any kind inside the caller's transaction (PENDING, due now, given up
   * `giveUpAfterS` from now). Returns the job id. Nothing happens unless `tx` commits.
   */
  async enqueue(tx: EntityManager, job: NewOutboxJob): Promise<string> {
    const rows: { id: string }[] = await tx.query(
      `INSERT INTO outbox_jobs (kind, project_id, app_id, payload, status, give_up_at, ordering_key)
       VALUES ($1, $2, $3, $4::jsonb, 'PENDING', now() + make_interval(secs => $5::int), $6)
       RETURNING id`,
      [
        job.kind,
        job.projectId,
        job.appId,
        JSON.stringify(job.payload),
        job.giveUpAfterS,
        job.orderingKey ?? null,
      ],
    );
    return String(rows[0]!.id);
  }

  /** Claims up to `limit` due SINCH_REPLY jobs (see claimDue). */
  claimDueReplies(limit: number, leaseMs: number): Promise<ClaimedJob[]> {
    return this.claimDue(SINCH_REPLY, limit, leaseMs, 'REPLY_GIVE_UP_AFTER_S');
  }

  /**
   * Claims up to `limit` due jobs of one kind, in one statement: the rows are locked with
   * `FOR UPDATE SKIP LOCKED` (jobs being claimed by another instance are skipped, not waited
   * for), their attempt is counted and their next_attempt_at moves `leaseMs` ahead, so no other
   * worker takes them until the lease ends. Jobs already past give_up_at are marked FAILED in the
   * same statement (returned with `expired`) instead of being attempted; for an expired
   * SINCH_REPLY job the same statement appends its REPLY_FAILED audit record.
   *
   * Head of line: a job with an ordering_key is claimed only when no older job (smaller id) with
   * the same key is PENDING, whether that one is being attempted (its lease) or waits for a retry.
   * So one key's jobs are done strictly one after another, and a claim holds at most one job per
   * key; the next job of a key becomes claimable once the one before it is SENT or FAILED (given
   * up, cancelled, or expired here: an expired head releases its successor for the next claim).
   * The check is one probe of outbox_jobs_ordering_idx per candidate. It reads the statement's
   * snapshot, so a successor can only be claimed after the commit that finished its predecessor.
   */
  async claimDue(
    kind: string,
    limit: number,
    leaseMs: number,
    giveUpSetting: string,
  ): Promise<ClaimedJob[]> {
    const { rows } = await this.pool.query<ClaimedJob>(
      `WITH due AS (
         SELECT c.id, c.give_up_at <= now() AS expired
           FROM outbox_jobs c
          WHERE c.status = 'PENDING' AND c.next_attempt_at <= now() AND c.kind = $1
            AND (c.ordering_key IS NULL OR NOT EXISTS (
                  SELECT 1 FROM outbox_jobs older
                   WHERE older.ordering_key = c.ordering_key
                     AND older.status = 'PENDING'
                     AND older.id < c.id))
          ORDER BY c.next_attempt_at, c.id
          LIMIT $2
          FOR UPDATE OF c SKIP LOCKED
       ),
       claimed AS (
         UPDATE outbox_jobs j
            SET attempts = CASE WHEN due.expired THEN j.attempts ELSE j.attempts + 1 END,
                next_attempt_at = CASE WHEN due.expired THEN j.next_attempt_at
                                       ELSE now() + $3::double precision * interval '1 millisecond' END,
                status = CASE WHEN due.expired THEN 'FAILED' ELSE 'PENDING' END,
                finished_at = CASE WHEN due.expired THEN now() END,
                last_error = CASE WHEN due.expired
                                  THEN left('given up after ' || j.attempts || ' attempt(s): not sent within ' || $4::text || '; last error: '
                                            || coalesce(j.last_error, 'none'), ${MAX_LAST_ERROR_CHARS})
                                  ELSE j.last_error END
           FROM due
          WHERE j.id = due.id
         RETURNING j.id, j.kind, j.project_id, j.app_id, j.payload, j.attempts, j.give_up_at,
                   j.last_error, due.expired
       ),
       ${EXPIRED_REPLY_AUDIT}
       SELECT * FROM claimed`,
      [kind, limit, leaseMs, giveUpSetting],
    );
    return rows.map((r) => ({ ...r, id: String(r.id) }));
  }

  /**
   * Records the claimed attempt as delivered, with `audit` (REPLY_SENT) in the same statement.
   * False when the claim was lost (lease ended): then nothing is written.
   */
  async markSent(
    id: string,
    attempt: number,
    db: OutboxDb = this.pool,
    audit?: ReplyAudit,
  ): Promise<boolean> {
    return this.finish(
      db,
      id,
      attempt,
      `status = 'SENT', finished_at = now(), next_attempt_at = now()`,
      [],
      audit && { kind: AuditRecordKind.REPLY_SENT, ...audit },
    );
  }

  /**
   * Records the claimed attempt as finally failed, with `audit` (REPLY_FAILED) in the same
   * statement. False when the claim was lost: then nothing is written.
   */
  async markFailed(
    id: string,
    attempt: number,
    error: string,
    db: OutboxDb = this.pool,
    audit?: ReplyAudit,
  ): Promise<boolean> {
    return this.finish(
      db,
      id,
      attempt,
      `status = 'FAILED', finished_at = now(), next_attempt_at = now(), last_error = $3`,
      [clip(error)],
      audit && { kind: AuditRecordKind.REPLY_FAILED, ...audit },
    );
  }

  /**
   * Records a retryable failure of the claimed attempt: the job is due again after `delayMs`, but
   * not later than its give_up_at; a job already past give_up_at becomes FAILED instead, and
   * then gets `audit` (REPLY_FAILED) in the same statement.
   * Returns the job's status afterwards, or null when the claim was lost.
   */
  async scheduleRetry(
    id: string,
    attempt: number,
    delayMs: number,
    error: string,
    db: OutboxDb = this.pool,
    audit?: ReplyAudit,
  ): Promise<OutboxStatus | null> {
    const update = `UPDATE outbox_jobs
          SET status = CASE WHEN now() >= give_up_at THEN 'FAILED' ELSE 'PENDING' END,
              finished_at = CASE WHEN now() >= give_up_at THEN now() END,
              next_attempt_at = LEAST(now() + $3::double precision * interval '1 millisecond', give_up_at),
              last_error = $4
        WHERE id = $1 AND attempts = $2 AND status = 'PENDING'
        RETURNING status, project_id, app_id`;
    const params: unknown[] = [id, attempt, delayMs, clip(error)];
    if (!audit) {
      const { rows } = await db.query<{ status: OutboxStatus }>(update, params);
      return rows[0]?.status ?? null;
    }
    const { rows } = await db.query<{ status: OutboxStatus }>(
      `WITH done AS (${update}),
       ${replyAuditInsert(5, `done.status = 'FAILED'`)}
       SELECT status FROM done`,
      [...params, ...replyAuditParams({ kind: AuditRecordKind.REPLY_FAILED, ...audit })],
    );
    return rows[0]?.status ?? null;
  }

  /** A job's kind, app, payload and ordering key, or null when there is no job with this id. */
  async findJob(id: string): Promise<{
    id: string;
    kind: string;
    project_id: string;
    app_id: string;
    payload: unknown;
    ordering_key: string | null;
  } | null> {
    const { rows } = await this.pool.query<{
      id: string;
      kind: string;
      project_id: string;
      app_id: string;
      payload: unknown;
      ordering_key: string | null;
    }>(
      `SELECT id, kind, project_id, app_id, payload, ordering_key FROM outbox_jobs WHERE id = $1`,
      [id],
    );
    const row = rows[0];
    return row ? { ...row, id: String(row.id) } : null;
  }

  /**
   * Marks FAILED, inside the caller's transaction, the PENDING jobs of one kind and app whose
   * payload contains `payloadMatch` (e.g. the jobs of a deleted callback subscription). A job
   * being sent right now still finishes its attempt, but its outcome write is then refused.
   * Returns how many jobs were cancelled.
   */
  async cancelPending(
    tx: EntityManager,
    job: { kind: string; projectId: string; appId: string; payloadMatch: Record<string, string> },
    reason: string,
  ): Promise<number> {
    // Wrapped in a SELECT: TypeORM's query() reshapes the result of a bare UPDATE.
    const rows: { n: number }[] = await tx.query(
      `WITH cancelled AS (
         UPDATE outbox_jobs
            SET status = 'FAILED', finished_at = now(), next_attempt_at = now(), last_error = $5
          WHERE status = 'PENDING' AND kind = $1 AND project_id = $2 AND app_id = $3
            AND payload @> $4::jsonb
          RETURNING id
       )
       SELECT count(*)::int AS n FROM cancelled`,
      [job.kind, job.projectId, job.appId, JSON.stringify(job.payloadMatch), clip(reason)],
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * One page of an app's reply jobs, newest first, with ids below `beforeId`. The message text is
   * not read.
   */
  async listReplies(
    projectId: string,
    appId: string,
    opts: { status?: OutboxStatus; beforeId?: string; limit: number },
  ): Promise<ReplyJobRow[]> {
    const { rows } = await this.pool.query<ReplyJobRow>(
      `SELECT id, status, attempts,
              payload->>'action' AS action,
              payload->>'language' AS language,
              payload->>'channel' AS channel,
              payload->>'identity' AS identity,
              payload->>'inbound_message_id' AS inbound_message_id,
              last_error, created_at, next_attempt_at, finished_at
         FROM outbox_jobs
        WHERE project_id = $1 AND app_id = $2 AND kind = $3
          AND ($4::varchar IS NULL OR status = $4::varchar)
          AND ($5::bigint IS NULL OR id < $5::bigint)
        ORDER BY id DESC
        LIMIT $6`,
      [projectId, appId, SINCH_REPLY, opts.status ?? null, opts.beforeId ?? null, opts.limit],
    );
    return rows.map((r) => ({ ...r, id: String(r.id) }));
  }

  private async finish(
    db: OutboxDb,
    id: string,
    attempt: number,
    set: string,
    params: unknown[],
    audit?: ReplyAudit & { kind: AuditRecordKind },
  ): Promise<boolean> {
    const update = `UPDATE outbox_jobs SET ${set}
        WHERE id = $1 AND attempts = $2 AND status = 'PENDING'`;
    if (!audit) {
      const { rowCount } = await db.query(update, [id, attempt, ...params]);
      return rowCount === 1;
    }
    // One statement: the record exists exactly when the fenced update held.
    const { rows } = await db.query<{ n: number }>(
      `WITH done AS (${update} RETURNING project_id, app_id),
       ${replyAuditInsert(3 + params.length, 'true')}
       SELECT count(*)::int AS n FROM done`,
      [id, attempt, ...params, ...replyAuditParams(audit)],
    );
    return rows[0]?.n === 1;
  }
}

/**
 * A CTE (named reply_audit) that appends one reply audit record per row of the CTE `done`
 * (project_id, app_id) matching `where`; its values are the parameters from `$first` on, in the
 * order of replyAuditParams. Data-modifying CTEs run whether or not the main query reads them.
 */
function replyAuditInsert(first: number, where: string): string {
  const p = (i: number) => `$${first + i}`;
  return `reply_audit AS (
         INSERT INTO consent_audit
           (kind, project_id, app_id, identity, list_type, actor, reason, evidence, event_time)
         SELECT ${p(0)}::varchar, done.project_id, done.app_id, ${p(1)}::varchar, ${p(2)}::varchar,
                ${p(3)}::varchar, ${p(4)}::varchar, ${p(5)}::jsonb, now()
           FROM done
          WHERE ${where}
       )`;
}

function replyAuditParams(a: ReplyAudit & { kind: AuditRecordKind }): unknown[] {
  return [
    a.kind,
    a.identity,
    a.listType,
    REPLY_AUDIT_ACTOR,
    a.reason.slice(0, 500),
    JSON.stringify(a.evidence),
  ];
}

const LIST_TYPE_SQL = LIST_TYPES.map((l) => `'${l}'`).join(', ');

/**
 * The claim statement's CTE that appends REPLY_FAILED for the SINCH_REPLY jobs it gave up
 * (rows of `claimed` with expired). Written defensively: whatever a payload holds, the claim
 * must not fail. Jobs queued before normalized_identity existed fall back to Sinch's identity
 * (phone numbers arrive from Sinch as digits already, i.e. normalised).
 */
const EXPIRED_REPLY_AUDIT = `expired_audit AS (
         INSERT INTO consent_audit
           (kind, project_id, app_id, identity, list_type, actor, reason, evidence, event_time)
         SELECT '${AuditRecordKind.REPLY_FAILED}', c.project_id, c.app_id,
                left(coalesce(c.payload->>'normalized_identity', c.payload->>'identity'), ${MAX_IDENTITY_LENGTH}),
                CASE WHEN c.payload->>'list_type' IN (${LIST_TYPE_SQL}) THEN c.payload->>'list_type' END,
                '${REPLY_AUDIT_ACTOR}',
                left('confirmation reply (' || coalesce(c.payload->>'action', 'unknown') || ') given up: not delivered in time', 500),
                jsonb_build_object(
                  'reply_job_id', c.id::text,
                  'inbound_message_id', c.payload->'inbound_message_id',
                  'action', c.payload->'action',
                  'language', c.payload->'language',
                  'channel', c.payload->'channel',
                  'attempts', c.attempts,
                  'last_error', c.last_error),
                now()
           FROM claimed c
          WHERE c.expired AND c.kind = '${SINCH_REPLY}'
            AND coalesce(c.payload->>'normalized_identity', c.payload->>'identity') <> ''
          ORDER BY c.id
       )`;

function clip(s: string): string {
  return s.length <= MAX_LAST_ERROR_CHARS ? s : `${s.slice(0, MAX_LAST_ERROR_CHARS - 1)}…`;
}
