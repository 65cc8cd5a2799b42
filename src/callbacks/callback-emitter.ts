import { Injectable, OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { newUlid } from '../common/ids.js';
import { AppConfig } from '../config/app-config.js';
import { AppConfigCache, appScope, ConfigNamespace } from '../config-cache/app-config-cache.js';
import { ConsentEvents } from '../consent/consent-events.js';
import { callbackOrderingKey } from '../jobs/ordering-key.js';
import { JobQueueRepository, NewJob } from '../jobs/job-queue.repository.js';
import type { AppRef } from '../kernel/app-ref.js';
import type { CallbackEvent } from './callback-events.js';
import { buildCallbackBody, CALLBACK_JOB, CallbackJobPayload } from './callback-payload.js';
import { CallbackTrigger } from './callback-events.js';
import { CallbacksRepository, SubscriptionTriggers } from './callbacks.repository.js';

/**
 * Queues callbacks. `emit` runs inside the caller's transaction (a consent change, to which it
 * subscribes through ConsentEvents, or a blocked send, which calls it): for every subscription of the app whose triggers include the event's, it writes one
 * outbox job (kind CALLBACK) carrying the exact body to send. Nothing is sent unless the
 * transaction commits, and nothing is sent here: the CallbackHandler delivers. Events that happen
 * together (a batch, an import's chunk) are queued together (emitAll).
 *
 * Each job is ordered by (subscription, identity) (callbackOrderingKey): one subscription's
 * callbacks about one identity are delivered one at a time, in the order they were queued (which
 * is also `sequence` order); other subscriptions and other identities are not held back.
 *
 * An app's subscriptions (ids and triggers only) are cached in the AppConfigCache, dropped on
 * every instance when they change (CallbacksService writes through it); a miss is read in the
 * transaction of the event that found it (concurrent events share that read). An app without
 * subscriptions costs no statement while cached; a set of events with matching subscriptions
 * costs two statements.
 */
@Injectable()
export class CallbackEmitter implements OnModuleInit {
  private readonly subscriptions: ConfigNamespace<SubscriptionTriggers[]>;

  constructor(
    private readonly repo: CallbacksRepository,
    private readonly outbox: JobQueueRepository,
    cache: AppConfigCache,
    private readonly config: AppConfig,
    private readonly consentEvents: ConsentEvents,
  ) {
    this.subscriptions = cache.namespace('callback-subscriptions', 'app');
  }

  /** OPT_IN / OPT_OUT callbacks for every applied consent change, in its transaction. */
  onModuleInit(): void {
    this.consentEvents.subscribe((tx, app, changes) => this.emitAll(tx, app, changes));
  }

  async emit(tx: EntityManager, app: AppRef, event: CallbackEvent): Promise<void> {
    await this.emitAll(tx, app, [event]);
  }

  /**
   * The callbacks of events that happened together, in their order: one statement for their
   * sequence numbers and one for all their jobs, whatever their number (an import's chunk).
   */
  async emitAll(tx: EntityManager, app: AppRef, events: readonly CallbackEvent[]): Promise<void> {
    const all = await this.subscriptionsOf(tx, app);
    if (all.length === 0) return;
    const matching = events.map((event) =>
      all.filter((s) => s.triggers.includes(event.trigger as CallbackTrigger)),
    );
    const count = matching.filter((m) => m.length > 0).length;
    if (count === 0) return;
    const rows: { seq: string }[] = await tx.query(
      `SELECT nextval('callback_event_seq')::text AS seq FROM generate_series(1, $1::int) ORDER BY 1`,
      [count],
    );
    const sequences = rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
    const acceptedTime = new Date();
    const jobs: NewJob[] = [];
    let next = 0;
    events.forEach((event, e) => {
      const subscriptions = matching[e]!;
      if (subscriptions.length === 0) return;
      const trigger = event.trigger as CallbackTrigger;
      const sequence = sequences[next++]!;
      const eventId = newUlid();
      const body = buildCallbackBody(app, event, { eventId, sequence, acceptedTime });
      for (const s of subscriptions) {
        const payload: CallbackJobPayload = {
          subscription_id: s.id,
          event_id: eventId,
          sequence,
          trigger,
          body,
        };
        jobs.push({
          kind: CALLBACK_JOB,
          projectId: app.projectId,
          appId: app.appId,
          payload,
          giveUpAfterS: this.config.CALLBACK_GIVE_UP_AFTER_S,
          orderingKey: callbackOrderingKey(s.id, event.identity),
        });
      }
    });
    await this.outbox.enqueueAll(tx, jobs);
  }

  /** The app's subscriptions, read (on a miss) in the caller's transaction. */
  private subscriptionsOf(tx: EntityManager, app: AppRef): Promise<SubscriptionTriggers[]> {
    return this.subscriptions.get(appScope(app), () => this.repo.triggersOf(tx, app));
  }
}
