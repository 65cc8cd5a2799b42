import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Pool, PoolClient } from 'pg';
import { PG_POOL } from '../database/database.module.js';
import { AppRef, appPath } from '../kernel/app-ref.js';
import type { CallbackDeliveryEntity } from './callback-delivery.entity.js';
import type { CallbackSubscriptionEntity } from './callback-subscription.entity.js';
import { CallbackTrigger } from './callback-events.js';

/** A subscription as the API and the worker see it: the whole row. */
export type SubscriptionRow = CallbackSubscriptionEntity;

/** What emit needs of a subscription (cached per app; no URL, no secret). */
export type SubscriptionTriggers = Pick<CallbackSubscriptionEntity, 'id' | 'triggers'>;

export type DeliveryOutcome = 'SUCCEEDED' | 'RETRYING' | 'GAVE_UP';

export interface NewDelivery {
  subscriptionId: string;
  jobId: string;
  eventId: string;
  trigger: string;
  attempt: number;
  outcome: DeliveryOutcome;
  httpStatus: number | null;
  error: string | null;
  durationMs: number;
}

/** One delivery attempt: the whole row. */
export type DeliveryRow = Omit<CallbackDeliveryEntity, 'outcome'> & { outcome: DeliveryOutcome };

/** callback_deliveries.error is varchar(500). */
const MAX_DELIVERY_ERROR_CHARS = 500;

/** First key of the two-key advisory lock that serialises subscription changes of one app. */
const CALLBACK_LOCK_CLASS = 0x4342; // "CB"

/**
 * Plain SQL over callback_subscriptions and callback_deliveries. Statements outside a caller's
 * transaction go to the pg pool directly.
 */
@Injectable()
export class CallbacksRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /** The ids and triggers of an app's subscriptions, read in the caller's transaction. */
  async triggersOf(tx: EntityManager, app: AppRef): Promise<SubscriptionTriggers[]> {
    const rows: SubscriptionTriggers[] = await tx.query(
      `SELECT id, triggers FROM callback_subscriptions
        WHERE project_id = $1 AND app_id = $2
        ORDER BY id`,
      [app.projectId, app.appId],
    );
    return rows;
  }

  /** Serialises subscription changes of one app until the transaction ends. */
  async lockApp(tx: EntityManager, app: AppRef): Promise<void> {
    await tx.query('SELECT pg_advisory_xact_lock($1::int4, hashtext($2::text))', [
      CALLBACK_LOCK_CLASS,
      appPath(app),
    ]);
  }

  async countForApp(tx: EntityManager, app: AppRef): Promise<number> {
    const rows: { n: number }[] = await tx.query(
      `SELECT count(*)::int AS n FROM callback_subscriptions WHERE project_id = $1 AND app_id = $2`,
      [app.projectId, app.appId],
    );
    return rows[0]?.n ?? 0;
  }

  async insert(
    tx: EntityManager,
    row: Pick<
      SubscriptionRow,
      'id' | 'project_id' | 'app_id' | 'target_url' | 'secret' | 'triggers'
    >,
  ): Promise<SubscriptionRow> {
    const rows: SubscriptionRow[] = await tx.query(
      `INSERT INTO callback_subscriptions (id, project_id, app_id, target_url, secret, triggers)
       VALUES ($1, $2, $3, $4, $5, $6::text[])
       RETURNING *`,
      [row.id, row.project_id, row.app_id, row.target_url, row.secret, row.triggers],
    );
    return rows[0]!;
  }

  async listForApp(app: AppRef): Promise<SubscriptionRow[]> {
    const { rows } = await this.pool.query<SubscriptionRow>(
      `SELECT * FROM callback_subscriptions WHERE project_id = $1 AND app_id = $2 ORDER BY id`,
      [app.projectId, app.appId],
    );
    return rows;
  }

  async find(app: AppRef, id: string): Promise<SubscriptionRow | null> {
    const { rows } = await this.pool.query<SubscriptionRow>(
      `SELECT * FROM callback_subscriptions WHERE id = $1 AND project_id = $2 AND app_id = $3`,
      [id, app.projectId, app.appId],
    );
    return rows[0] ?? null;
  }

  /** The subscriptions with these ids (any app), for the worker. */
  async findByIds(ids: string[]): Promise<Map<string, SubscriptionRow>> {
    if (ids.length === 0) return new Map();
    const { rows } = await this.pool.query<SubscriptionRow>(
      `SELECT * FROM callback_subscriptions WHERE id = ANY($1::varchar[])`,
      [ids],
    );
    return new Map(rows.map((r) => [r.id, r]));
  }

  /** Updates the given fields; null when the app has no such subscription. */
  async update(
    tx: EntityManager,
    app: AppRef,
    id: string,
    fields: { target_url?: string; secret?: string; triggers?: CallbackTrigger[] },
  ): Promise<SubscriptionRow | null> {
    const rows: SubscriptionRow[] = await tx.query(
      `WITH updated AS (
         UPDATE callback_subscriptions
            SET target_url = coalesce($4, target_url),
                secret = coalesce($5, secret),
                triggers = coalesce($6::text[], triggers),
                updated_at = now()
          WHERE id = $1 AND project_id = $2 AND app_id = $3
          RETURNING *
       )
       SELECT * FROM updated`,
      [
        id,
        app.projectId,
        app.appId,
        fields.target_url ?? null,
        fields.secret ?? null,
        fields.triggers ?? null,
      ],
    );
    return rows[0] ?? null;
  }

  /** Deletes the subscription and its delivery log; null when the app has no such subscription. */
  async delete(tx: EntityManager, app: AppRef, id: string): Promise<SubscriptionRow | null> {
    const rows: SubscriptionRow[] = await tx.query(
      `WITH deleted AS (
         DELETE FROM callback_subscriptions
          WHERE id = $1 AND project_id = $2 AND app_id = $3
          RETURNING *
       )
       SELECT * FROM deleted`,
      [id, app.projectId, app.appId],
    );
    const row = rows[0] ?? null;
    if (row) {
      await tx.query(
        `WITH gone AS (DELETE FROM callback_deliveries WHERE subscription_id = $1 RETURNING 1)
         SELECT count(*)::int AS n FROM gone`,
        [id],
      );
    }
    return row;
  }

  /** Runs `fn` in one transaction on one pooled connection (for a job outcome and its log row). */
  async inTransaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  /** Appends one attempt to the delivery log (in the caller's transaction when given a client). */
  async insertDelivery(d: NewDelivery, db: Pool | PoolClient = this.pool): Promise<void> {
    await db.query(
      `INSERT INTO callback_deliveries
         (subscription_id, job_id, event_id, trigger, attempt, outcome, http_status, error, duration_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        d.subscriptionId,
        d.jobId,
        d.eventId,
        d.trigger,
        d.attempt,
        d.outcome,
        d.httpStatus,
        d.error === null ? null : clip(d.error),
        Math.min(d.durationMs, 2_147_483_647),
      ],
    );
  }

  /**
   * One page of a subscription's delivery log, newest first, with ids below `beforeId` (and only
   * the attempts with `outcome`, when given).
   */
  async listDeliveries(
    subscriptionId: string,
    opts: { beforeId?: string; limit: number; outcome?: DeliveryOutcome },
  ): Promise<DeliveryRow[]> {
    const { rows } = await this.pool.query<DeliveryRow>(
      `SELECT id, subscription_id, job_id, event_id, trigger, attempt, outcome, http_status,
              error, duration_ms, attempted_at
         FROM callback_deliveries
        WHERE subscription_id = $1 AND ($2::bigint IS NULL OR id < $2::bigint)
          AND ($4::varchar IS NULL OR outcome = $4::varchar)
        ORDER BY id DESC
        LIMIT $3`,
      [subscriptionId, opts.beforeId ?? null, opts.limit, opts.outcome ?? null],
    );
    return rows.map((r) => ({ ...r, id: String(r.id), job_id: String(r.job_id) }));
  }

  /** The job of the latest recorded attempt of an event for a subscription, or null. */
  async latestJobOfEvent(subscriptionId: string, eventId: string): Promise<string | null> {
    const { rows } = await this.pool.query<{ job_id: string }>(
      `SELECT job_id FROM callback_deliveries
        WHERE subscription_id = $1 AND event_id = $2
        ORDER BY id DESC
        LIMIT 1`,
      [subscriptionId, eventId],
    );
    return rows[0] ? String(rows[0].job_id) : null;
  }
}

function clip(s: string): string {
  return s.length <= MAX_DELIVERY_ERROR_CHARS ? s : `${s.slice(0, MAX_DELIVERY_ERROR_CHARS - 1)}…`;
}
