import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { ApiError } from '../common/api-error.js';
import { newUlid } from '../common/ids.js';
import { AppConfig } from '../config/app-config.js';
import { appScope, AppConfigCache } from '../config-cache/app-config-cache.js';
import { encodePageToken, readPageToken } from '../kernel/page-token.js';
import { JobQueueRepository } from '../jobs/job-queue.repository.js';
import type { AppRef } from '../kernel/app-ref.js';
import { CALLBACK_JOB, CallbackJobPayload, sortTriggers } from './callback-payload.js';
import { CallbackTrigger } from './callback-events.js';
import {
  CallbacksRepository,
  DeliveryOutcome,
  DeliveryRow,
  SubscriptionRow,
} from './callbacks.repository.js';
import type {
  CallbackDeliveryDto,
  CallbackDto,
  CreateCallbackRequestDto,
  RedeliverResponseDto,
  UpdateCallbackRequestDto,
} from './dto/callbacks.dto.js';

/** Most callback subscriptions one app may have (each event is queued once per subscription). */
export const MAX_CALLBACKS_PER_APP = 20;

/** Callback subscriptions (CRUD), their delivery log, and manual redelivery. */
@Injectable()
export class CallbacksService {
  private readonly logger = new Logger('Callbacks');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly repo: CallbacksRepository,
    private readonly outbox: JobQueueRepository,
    private readonly cache: AppConfigCache,
    private readonly config: AppConfig,
  ) {}

  async create(app: AppRef, dto: CreateCallbackRequestDto): Promise<CallbackDto> {
    const row = await this.cache.write(appScope(app), async (tx) => {
      await this.repo.lockApp(tx, app);
      if ((await this.repo.countForApp(tx, app)) >= MAX_CALLBACKS_PER_APP) {
        throw ApiError.invalidRequest(
          [],
          `An app can have at most ${MAX_CALLBACKS_PER_APP} callback subscriptions; delete one first.`,
        );
      }
      return this.repo.insert(tx, {
        id: newUlid(),
        project_id: app.projectId,
        app_id: app.appId,
        target_url: dto.target_url,
        secret: dto.secret,
        triggers: sortTriggers(dto.triggers),
      });
    });
    this.logger.log(
      `callback subscription created app=${app.appId} id=${row.id} triggers=${row.triggers.join(',')}`,
    );
    return toDto(row);
  }

  async list(app: AppRef): Promise<CallbackDto[]> {
    return (await this.repo.listForApp(app)).map(toDto);
  }

  async get(app: AppRef, id: string): Promise<CallbackDto> {
    return toDto(await this.mustFind(app, id));
  }

  async update(app: AppRef, id: string, dto: UpdateCallbackRequestDto): Promise<CallbackDto> {
    if (dto.target_url === undefined && dto.secret === undefined && dto.triggers === undefined) {
      throw ApiError.field('', 'give at least one of target_url, secret, triggers');
    }
    const row = await this.cache.write(appScope(app), async (tx) => {
      await this.repo.lockApp(tx, app);
      return this.repo.update(tx, app, id, {
        target_url: dto.target_url,
        secret: dto.secret,
        triggers: dto.triggers ? sortTriggers(dto.triggers) : undefined,
      });
    });
    if (!row) throw noSuchCallback(id);
    this.logger.log(
      `callback subscription updated app=${app.appId} id=${id} fields=${Object.keys(dto).join(',')}`,
    );
    return toDto(row);
  }

  /** Deletes the subscription and its delivery log; its queued callbacks are not sent. */
  async delete(app: AppRef, id: string): Promise<CallbackDto> {
    const row = await this.cache.write(appScope(app), async (tx) => {
      await this.repo.lockApp(tx, app);
      const deleted = await this.repo.delete(tx, app, id);
      if (deleted) {
        await this.outbox.cancelPending(
          tx,
          {
            kind: CALLBACK_JOB,
            projectId: app.projectId,
            appId: app.appId,
            payloadMatch: { subscription_id: id },
          },
          'callback subscription deleted',
        );
      }
      return deleted;
    });
    if (!row) throw noSuchCallback(id);
    this.logger.log(`callback subscription deleted app=${app.appId} id=${id}`);
    return toDto(row);
  }

  /** One page of the subscription's delivery attempts, newest first (keyset on the id). */
  async deliveries(
    app: AppRef,
    id: string,
    q: { pageSize: number; pageToken?: string; outcome?: DeliveryOutcome },
  ): Promise<{ deliveries: CallbackDeliveryDto[]; nextPageToken: string }> {
    const beforeId = readPageToken(q.pageToken, true);
    await this.mustFind(app, id);
    const rows = await this.repo.listDeliveries(id, {
      beforeId,
      limit: q.pageSize + 1,
      outcome: q.outcome,
    });
    const page = rows.slice(0, q.pageSize);
    const next = rows.length > q.pageSize ? encodePageToken(page[page.length - 1]!.id) : '';
    return { deliveries: page.map(toDeliveryDto), nextPageToken: next };
  }

  /**
   * Queues the event's body again, as a fresh job (attempts from 1, a new CALLBACK_GIVE_UP_AFTER_S
   * window) for the same subscription. The body is identical (same event id and sequence), so a
   * receiver that deduplicates by request_id / event_id sees a repeat. 404 unless an attempt of
   * the event was recorded for this subscription.
   *
   * The new job keeps the original's ordering key (subscription + identity) and, being the newest
   * job of that key, takes its place at the end of the key's queue: it goes out after every
   * callback about the identity already queued for this subscription, and later events wait for
   * it. Its body keeps its original sequence, so a receiver ordering by sequence sees an old one.
   */
  async redeliver(app: AppRef, id: string, eventId: string): Promise<RedeliverResponseDto> {
    await this.mustFind(app, id);
    const jobId = await this.repo.latestJobOfEvent(id, eventId);
    const job = jobId ? await this.outbox.findJob(jobId) : null;
    const original = job?.payload as CallbackJobPayload | undefined;
    if (
      !job ||
      job.kind !== CALLBACK_JOB ||
      job.project_id !== app.projectId ||
      job.app_id !== app.appId ||
      !original ||
      original.subscription_id !== id ||
      original.event_id !== eventId
    ) {
      throw ApiError.notFound(`Callback ${id} has no recorded delivery of event ${eventId}.`);
    }
    const payload: CallbackJobPayload = {
      subscription_id: original.subscription_id,
      event_id: original.event_id,
      sequence: original.sequence,
      trigger: original.trigger,
      body: original.body,
      redelivery_of: job.id,
    };
    const newJobId = await this.dataSource.transaction((tx) =>
      this.outbox.enqueue(tx, {
        kind: CALLBACK_JOB,
        projectId: app.projectId,
        appId: app.appId,
        payload,
        giveUpAfterS: this.config.CALLBACK_GIVE_UP_AFTER_S,
        orderingKey: job.ordering_key,
      }),
    );
    this.logger.log(
      `callback redelivery queued app=${app.appId} id=${id} event=${eventId} job=${newJobId}`,
    );
    return { callback_id: id, event_id: eventId, job_id: newJobId };
  }

  private async mustFind(app: AppRef, id: string): Promise<SubscriptionRow> {
    const row = await this.repo.find(app, id);
    if (!row) throw noSuchCallback(id);
    return row;
  }
}

export function noSuchCallback(id: string): ApiError {
  return ApiError.notFound(`This app has no callback subscription ${id}.`);
}

function toDto(row: SubscriptionRow): CallbackDto {
  return {
    id: row.id,
    target_url: row.target_url,
    triggers: sortTriggers(row.triggers as CallbackTrigger[]),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function toDeliveryDto(r: DeliveryRow): CallbackDeliveryDto {
  return {
    id: r.id,
    event_id: r.event_id,
    job_id: r.job_id,
    trigger: r.trigger,
    attempt: r.attempt,
    outcome: r.outcome,
    http_status: r.http_status,
    error: r.error,
    duration_ms: r.duration_ms,
    attempted_at: r.attempted_at.toISOString(),
  };
}
