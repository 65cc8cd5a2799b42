import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Pool } from 'pg';
import { AppConfig } from '../config/app-config.js';
import { PG_POOL } from '../database/database.module.js';
import { JobStatus } from '../jobs/job.entity.js';
import { JobQueueRepository } from '../jobs/job-queue.repository.js';
import { replyOrderingKey } from '../jobs/ordering-key.js';
import { SINCH_REPLY, SinchReplyPayload } from './reply-payload.js';

/** One row of the reply-jobs listing: everything but the message text. */
export interface ReplyJobRow {
  id: string;
  status: JobStatus;
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

/** Confirmation replies on the job queue: queued by the webhooks, listed for operators. */
@Injectable()
export class ReplyQueue {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly jobs: JobQueueRepository,
    private readonly config: AppConfig,
  ) {}

  /**
   * Queues a confirmation reply inside the caller's transaction (PENDING, due now, given up
   * REPLY_GIVE_UP_AFTER_S from now). Returns the job id. Nothing is sent unless `tx` commits.
   * Replies to one recipient (project, app, channel, normalised identity) are sent one at a
   * time, in the order they were queued. An opt-out confirmation is sent at most once (an
   * attempt interrupted by a crash ends IN_DOUBT); HELP and opt-in replies at least once.
   */
  async enqueue(
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
      ...(p.redelivery_of === undefined ? {} : { redelivery_of: p.redelivery_of }),
    };
    return this.jobs.enqueue(tx, {
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
      atMostOnce: p.action === 'OPT_OUT',
    });
  }

  /**
   * One reply job of the app, locked until the transaction ends (so that two redeliveries of it
   * are one after the other), with the id of a redelivery of it that did not fail, if any.
   */
  async lockForRedelivery(
    tx: EntityManager,
    app: { projectId: string; appId: string },
    id: string,
  ): Promise<{ status: JobStatus; payload: SinchReplyPayload; redelivered: string | null } | null> {
    const rows: { status: JobStatus; payload: SinchReplyPayload; redelivered: string | null }[] =
      await tx.query(
        `SELECT j.status, j.payload,
                (SELECT r.id::text FROM outbox_jobs r
                  WHERE r.project_id = j.project_id AND r.app_id = j.app_id AND r.kind = j.kind
                    AND r.payload->>'redelivery_of' = j.id::text AND r.status <> 'FAILED'
                  ORDER BY r.id DESC LIMIT 1) AS redelivered
           FROM outbox_jobs j
          WHERE j.id = $1 AND j.project_id = $2 AND j.app_id = $3 AND j.kind = $4
            FOR UPDATE OF j`,
        [id, app.projectId, app.appId, SINCH_REPLY],
      );
    return rows[0] ?? null;
  }

  /**
   * One page of an app's reply jobs, newest first, with ids below `beforeId`. The message text is
   * not read.
   */
  async list(
    projectId: string,
    appId: string,
    opts: { status?: JobStatus; beforeId?: string; limit: number },
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
}
