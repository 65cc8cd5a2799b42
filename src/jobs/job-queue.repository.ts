import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Pool, PoolClient } from 'pg';
import { PG_POOL } from '../database/database.module.js';
import { JobStatus } from './job.entity.js';

/** A job claimed by claimDue; `attempts` counts this attempt and fences the outcome. */
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
   * (without this attempt being counted) and it must not be attempted.
   */
  expired: boolean;
  /**
   * True for an at-most-once job whose previous attempt never recorded an outcome: the claim
   * already marked it IN_DOUBT and it must not be attempted again.
   */
  in_doubt: boolean;
}

/** What findJob reads of a job. */
export interface StoredJob {
  id: string;
  kind: string;
  project_id: string;
  app_id: string;
  payload: unknown;
  ordering_key: string | null;
}

/** outbox_jobs.last_error is varchar(500). */
export const MAX_LAST_ERROR_CHARS = 500;

/** Where a job outcome is written: the pool, or a client inside the caller's transaction. */
export type JobDb = Pool | PoolClient;

/**
 * The final-outcome hook: a data-modifying CTE added to the statement that records a job's
 * outcome, so that whatever it writes (e.g. an audit record) exists exactly when that fenced write
 * held. `rows` names a CTE of the jobs the statement touched (id, kind, project_id, app_id,
 * payload, attempts, last_error, and `outcome`: the new status); the hook's parameters are
 * numbered from `firstParam`. Data-modifying CTEs run whether or not the main query reads them.
 */
export type OutcomeHook = (rows: string, firstParam: number) => { cte: string; params: unknown[] };

/** A job of any kind to queue inside the caller's transaction. */
export interface NewJob {
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
  /**
   * At most once: after an attempt whose outcome was never recorded (its worker died during it),
   * the job is not attempted again but ends IN_DOUBT. Default: at least once.
   */
  atMostOnce?: boolean;
}

/** How claimDue claims one kind of job. */
export interface ClaimSpec {
  kind: string;
  /** How long a claimed job stays reserved (longer than the longest possible attempt). */
  leaseMs: number;
  /** The setting named in the error of a job given up by the claim (e.g. REPLY_GIVE_UP_AFTER_S). */
  giveUpSetting: string;
  /** Runs for the jobs the claim itself finished (expired, in doubt). */
  onClaimOutcome?: OutcomeHook;
}

/** The columns every outcome statement returns to its hook (see OutcomeHook). */
const OUTCOME_COLUMNS = `id, kind, project_id, app_id, payload, attempts, last_error, status AS outcome`;

/**
 * The durable job queue (table outbox_jobs): jobs written in the same transaction as the change
 * that causes them, and claimed by workers with `FOR UPDATE SKIP LOCKED` (see JobRunner).
 *
 * A job is claimed with a lease (its next_attempt_at moves past the longest possible attempt) and
 * marked in_flight until its outcome is recorded; a worker that dies mid-attempt leaves the job to
 * come back when the lease ends: attempted again (at least once), or, for an at-most-once job,
 * finished as IN_DOUBT without another attempt. Every outcome write is fenced by the claim's
 * attempt number, so a worker whose lease ran out cannot overwrite the outcome of the worker that
 * re-claimed the job.
 *
 * Every time comparison uses the database clock (now()), never the instances' clocks. The
 * worker's statements go to the pg pool directly (TypeORM's query() reshapes UPDATE results).
 */
@Injectable()
export class JobQueueRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /**
   * Queues a job inside the caller's transaction (PENDING, due now, given up `giveUpAfterS` from
   * now). Returns the job id. Nothing happens unless `tx` commits.
   */
  async enqueue(tx: EntityManager, job: NewJob): Promise<string> {
    const rows: { id: string }[] = await tx.query(
      `INSERT INTO outbox_jobs
         (kind, project_id, app_id, payload, status, give_up_at, ordering_key, at_most_once)
       VALUES ($1, $2, $3, $4::jsonb, 'PENDING', now() + make_interval(secs => $5::int), $6, $7)
       RETURNING id`,
      [
        job.kind,
        job.projectId,
        job.appId,
        JSON.stringify(job.payload),
        job.giveUpAfterS,
        job.orderingKey ?? null,
        job.atMostOnce ?? false,
      ],
    );
    return String(rows[0]!.id);
  }

  /**
   * Queues jobs inside the caller's transaction, in one statement, in the order given (their ids
   * ascend in that order, which ordering keys rely on). Nothing happens unless `tx` commits.
   */
  async enqueueAll(tx: EntityManager, jobs: readonly NewJob[]): Promise<void> {
    if (jobs.length === 0) return;
    await tx.query(
      `INSERT INTO outbox_jobs
         (kind, project_id, app_id, payload, status, give_up_at, ordering_key, at_most_once)
       SELECT t.kind, t.project_id, t.app_id, t.payload, 'PENDING',
              now() + make_interval(secs => t.give_up_after_s), t.ordering_key, t.at_most_once
         FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::jsonb[], $5::int[],
                     $6::varchar[], $7::boolean[])
              WITH ORDINALITY t(kind, project_id, app_id, payload, give_up_after_s, ordering_key,
                                at_most_once, ord)
        ORDER BY t.ord`,
      [
        jobs.map((j) => j.kind),
        jobs.map((j) => j.projectId),
        jobs.map((j) => j.appId),
        jobs.map((j) => JSON.stringify(j.payload)),
        jobs.map((j) => j.giveUpAfterS),
        jobs.map((j) => j.orderingKey ?? null),
        jobs.map((j) => j.atMostOnce ?? false),
      ],
    );
  }

  /**
   * Claims up to `limit` due jobs of one kind, in one statement: the rows are locked with
   * `FOR UPDATE SKIP LOCKED` (jobs being claimed by another instance are skipped, not waited
   * for), their attempt is counted, they are marked in_flight and their next_attempt_at moves
   * `leaseMs` ahead, so no other worker takes them until the lease ends. In the same statement,
   * instead of being attempted, jobs already past give_up_at are marked FAILED (returned with
   * `expired`), and at-most-once jobs whose previous attempt never recorded an outcome are marked
   * IN_DOUBT (returned with `in_doubt`); `onClaimOutcome` runs for both.
   *
   * Head of line: a job with an ordering_key is claimed only when no older job (smaller id) with
   * the same key is PENDING, whether that one is being attempted (its lease) or waits for a retry.
   * So one key's jobs are done strictly one after another, and a claim holds at most one job per
   * key; the next job of a key becomes claimable once the one before it is finished (SENT,
   * FAILED or IN_DOUBT: given up, cancelled, or finished here). The check is one probe of
   * outbox_jobs_ordering_idx per candidate. It reads the statement's snapshot, so a successor can
   * only be claimed after the commit that finished its predecessor.
   */
  async claimDue(spec: ClaimSpec, limit: number): Promise<ClaimedJob[]> {
    const hook = spec.onClaimOutcome?.(`claimed`, 5);
    const { rows } = await this.pool.query<ClaimedJob>(
      `WITH due AS (
         SELECT c.id, c.in_flight AND c.at_most_once AS in_doubt,
                c.give_up_at <= now() AND NOT (c.in_flight AND c.at_most_once) AS expired
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
            SET attempts = CASE WHEN due.expired OR due.in_doubt THEN j.attempts ELSE j.attempts + 1 END,
                next_attempt_at = CASE WHEN due.expired OR due.in_doubt THEN j.next_attempt_at
                                       ELSE now() + $3::double precision * interval '1 millisecond' END,
                status = CASE WHEN due.in_doubt THEN 'IN_DOUBT'
                              WHEN due.expired THEN 'FAILED' ELSE 'PENDING' END,
                in_flight = NOT (due.expired OR due.in_doubt),
                finished_at = CASE WHEN due.expired OR due.in_doubt THEN now() END,
                last_error = CASE
                  WHEN due.in_doubt
                    THEN left('attempt ' || j.attempts || ' was interrupted before its outcome was recorded: not attempted again (at most once); last error: '
                              || coalesce(j.last_error, 'none'), ${MAX_LAST_ERROR_CHARS})
                  WHEN due.expired
                    THEN left('given up after ' || j.attempts || ' attempt(s): not sent within ' || $4::text || '; last error: '
                              || coalesce(j.last_error, 'none'), ${MAX_LAST_ERROR_CHARS})
                  ELSE j.last_error END
           FROM due
          WHERE j.id = due.id
         RETURNING j.id, j.kind, j.project_id, j.app_id, j.payload, j.attempts, j.give_up_at,
                   j.last_error, due.expired, due.in_doubt, j.status AS outcome
       )${hook ? `,\n       ${hook.cte}` : ''}
       SELECT id, kind, project_id, app_id, payload, attempts, give_up_at, last_error, expired, in_doubt
         FROM claimed`,
      [spec.kind, limit, spec.leaseMs, spec.giveUpSetting, ...(hook?.params ?? [])],
    );
    return rows.map((r) => ({ ...r, id: String(r.id) }));
  }

  /**
   * Records the claimed attempt as done (SENT). False when the claim was lost (lease ended): then
   * nothing is written, `hook` included.
   */
  markSent(
    id: string,
    attempt: number,
    db: JobDb = this.pool,
    hook?: OutcomeHook,
  ): Promise<boolean> {
    return this.finish(db, id, attempt, `status = 'SENT'`, [], hook);
  }

  /** Records the claimed attempt as finally FAILED. False when the claim was lost. */
  markFailed(
    id: string,
    attempt: number,
    error: string,
    db: JobDb = this.pool,
    hook?: OutcomeHook,
  ): Promise<boolean> {
    return this.finish(db, id, attempt, `status = 'FAILED', last_error = $3`, [clip(error)], hook);
  }

  /**
   * Records a retryable failure of the claimed attempt: the job is due again after `delayMs`, but
   * not later than its give_up_at; a job already past give_up_at becomes FAILED instead (and then
   * `hook` sees outcome FAILED; otherwise PENDING). Returns the job's status afterwards, or null
   * when the claim was lost.
   */
  async scheduleRetry(
    id: string,
    attempt: number,
    delayMs: number,
    error: string,
    db: JobDb = this.pool,
    hook?: OutcomeHook,
  ): Promise<JobStatus | null> {
    const update = `UPDATE outbox_jobs
          SET status = CASE WHEN now() >= give_up_at THEN 'FAILED' ELSE 'PENDING' END,
              finished_at = CASE WHEN now() >= give_up_at THEN now() END,
              next_attempt_at = LEAST(now() + $3::double precision * interval '1 millisecond', give_up_at),
              last_error = $4,
              in_flight = false
        WHERE id = $1 AND attempts = $2 AND status = 'PENDING'
        RETURNING ${OUTCOME_COLUMNS}`;
    const { rows } = await db.query<{ outcome: JobStatus }>(
      ...withHook(update, [id, attempt, delayMs, clip(error)], hook),
    );
    return rows[0]?.outcome ?? null;
  }

  /**
   * Renews the lease of a claimed attempt that is still at work (a long job, between two of its
   * steps): no other worker claims the job for another `leaseMs`. False when the claim was lost
   * (its lease ran out and another worker took the job): the caller must stop.
   */
  async extendLease(id: string, attempt: number, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE outbox_jobs
          SET next_attempt_at = now() + $3::double precision * interval '1 millisecond'
        WHERE id = $1 AND attempts = $2 AND status = 'PENDING' AND in_flight`,
      [id, attempt, leaseMs],
    );
    return rowCount === 1;
  }

  /**
   * Gives a claimed attempt back without an outcome (its worker is shutting down between two steps
   * of a long job): the job is due again at once, for any worker. False when the claim was lost.
   */
  async releaseClaim(id: string, attempt: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE outbox_jobs SET next_attempt_at = now(), in_flight = false
        WHERE id = $1 AND attempts = $2 AND status = 'PENDING' AND in_flight`,
      [id, attempt],
    );
    return rowCount === 1;
  }

  /** A job's kind, app, payload and ordering key, or null when there is no job with this id. */
  async findJob(id: string): Promise<StoredJob | null> {
    const { rows } = await this.pool.query<StoredJob>(
      `SELECT id, kind, project_id, app_id, payload, ordering_key FROM outbox_jobs WHERE id = $1`,
      [id],
    );
    const row = rows[0];
    return row ? { ...row, id: String(row.id) } : null;
  }

  /**
   * Marks FAILED, inside the caller's transaction, the PENDING jobs of one kind and app whose
   * payload contains `payloadMatch` (e.g. the jobs of a deleted callback subscription). A job
   * being attempted right now still finishes its attempt, but its outcome write is then refused.
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
            SET status = 'FAILED', finished_at = now(), next_attempt_at = now(), last_error = $5,
                in_flight = false
          WHERE status = 'PENDING' AND kind = $1 AND project_id = $2 AND app_id = $3
            AND payload @> $4::jsonb
          RETURNING id
       )
       SELECT count(*)::int AS n FROM cancelled`,
      [job.kind, job.projectId, job.appId, JSON.stringify(job.payloadMatch), clip(reason)],
    );
    return rows[0]?.n ?? 0;
  }

  /** Writes a final status (set, with its parameters from $3 on) fenced by the claim. */
  private async finish(
    db: JobDb,
    id: string,
    attempt: number,
    set: string,
    params: unknown[],
    hook?: OutcomeHook,
  ): Promise<boolean> {
    const update = `UPDATE outbox_jobs
          SET ${set}, finished_at = now(), next_attempt_at = now(), in_flight = false
        WHERE id = $1 AND attempts = $2 AND status = 'PENDING'
        RETURNING ${OUTCOME_COLUMNS}`;
    const { rows } = await db.query(...withHook(update, [id, attempt, ...params], hook));
    return rows.length === 1;
  }
}

/**
 * `update` (an UPDATE ... RETURNING OUTCOME_COLUMNS) with `hook`'s CTE over its rows, in one
 * statement: whatever the hook writes exists exactly when the fenced update held.
 */
function withHook(update: string, params: unknown[], hook?: OutcomeHook): [string, unknown[]] {
  if (!hook) return [update, params];
  const h = hook('done', params.length + 1);
  return [
    `WITH done AS (${update}),\n       ${h.cte}\n       SELECT * FROM done`,
    [...params, ...h.params],
  ];
}

export function clip(s: string): string {
  return s.length <= MAX_LAST_ERROR_CHARS ? s : `${s.slice(0, MAX_LAST_ERROR_CHARS - 1)}…`;
}
