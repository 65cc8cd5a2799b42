import { Injectable, OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { newUlid } from '../common/ids.js';
import { TtlCache } from '../common/ttl-cache.js';
import { AppConfig } from '../config/app-config.js';
import { ConsentEvents } from '../consent/consent-events.js';
import { callbackOrderingKey } from '../outbox/ordering-key.js';
import { OutboxRepository } from '../outbox/outbox.repository.js';
import { AppRef, appKey } from '../kernel/app-ref.js';
import type { CallbackEvent } from './callback-events.js';
import { buildCallbackBody, CALLBACK_JOB, CallbackJobPayload } from './callback-payload.js';
import { CallbackTrigger } from './callback-events.js';
import { CallbacksRepository, SubscriptionTriggers } from './callbacks.repository.js';

/**
 * Queues callbacks. `emit` runs inside the caller's transaction (a consent change, to which it
 * subscribes through ConsentEvents, or a blocked send, which calls it): for every subscription of the app whose triggers include the event's, it writes one
 * outbox job (kind CALLBACK) carrying the exact body to send. Nothing is sent unless the
 * transaction commits, and nothing is sent here: the CallbackWorker delivers.
 *
 * Each job is ordered by (subscription, identity) (callbackOrderingKey): one subscription's
 * callbacks about one identity are delivered one at a time, in the order they were queued (which
 * is also `sequence` order); other subscriptions and other identities are not held back.
 *
 * An app's subscriptions (ids and triggers only) are cached per instance for
 * SETTINGS_CACHE_TTL_MS, dropped at once on this instance when they change here; other
 * instances see a change within the TTL. An app without subscriptions costs no statement while
 * cached; an event costs one nextval and one insert per matching subscription.
 */
@Injectable()
export class CallbackEmitter implements OnModuleInit {
  private readonly cache: TtlCache<SubscriptionTriggers[]>;
  /** Bumped on every change: a lookup that started before a change must not be cached after it. */
  private generation = 0;

  constructor(
    private readonly repo: CallbacksRepository,
    private readonly outbox: OutboxRepository,
    private readonly config: AppConfig,
    private readonly consentEvents: ConsentEvents,
  ) {
    this.cache = new TtlCache(config.SETTINGS_CACHE_TTL_MS);
  }

  /** OPT_IN / OPT_OUT callbacks for every applied consent change, in its transaction. */
  onModuleInit(): void {
    this.consentEvents.subscribe((tx, app, change) => this.emit(tx, app, change));
  }

  async emit(tx: EntityManager, app: AppRef, event: CallbackEvent): Promise<void> {
    const trigger = event.trigger as CallbackTrigger;
    const subscriptions = (await this.subscriptionsOf(tx, app)).filter((s) =>
      s.triggers.includes(trigger),
    );
    if (subscriptions.length === 0) return;
    const rows: { seq: string }[] = await tx.query(
      `SELECT nextval('callback_event_seq')::text AS seq`,
    );
    const sequence = Number(rows[0]!.seq);
    const eventId = newUlid();
    const body = buildCallbackBody(app, event, { eventId, sequence, acceptedTime: new Date() });
    for (const s of subscriptions) {
      const payload: CallbackJobPayload = {
        subscription_id: s.id,
        event_id: eventId,
        sequence,
        trigger,
        body,
      };
      await this.outbox.enqueue(tx, {
        kind: CALLBACK_JOB,
        projectId: app.projectId,
        appId: app.appId,
        payload,
        giveUpAfterS: this.config.CALLBACK_GIVE_UP_AFTER_S,
        orderingKey: callbackOrderingKey(s.id, event.identity),
      });
    }
  }

  /** Drops this instance's cached subscriptions of the app (after a change through the API). */
  invalidate(app: AppRef): void {
    this.generation++;
    this.cache.delete(appKey(app));
  }

  private async subscriptionsOf(tx: EntityManager, app: AppRef): Promise<SubscriptionTriggers[]> {
    const key = appKey(app);
    const cached = this.cache.get(key);
    if (cached) return cached;
    const generation = this.generation;
    const rows = await this.repo.triggersOf(tx, app);
    if (generation === this.generation) this.cache.set(key, rows);
    return rows;
  }
}
