import { Injectable, Module } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { AppRef } from '../kernel/app-ref.js';
import type { ListType, Origin } from './domain/consent-types.js';

/** An applied consent change (OPT_OUT = put on a list, OPT_IN = taken off). */
export interface ConsentChanged {
  trigger: 'OPT_IN' | 'OPT_OUT';
  /** Normalised. */
  identity: string;
  listType: ListType;
  origin: Origin;
  auditRecordId: string;
  eventTime: Date;
  /** The Sinch channel, when the change came from a channel (keyword or Sinch notification). */
  channel?: string | null;
  contactId?: string | null;
}

/**
 * Called inside the transaction of the changes, with its EntityManager, once per set of changes
 * applied together (one request, one chunk of an import), in the order they were applied:
 * whatever it writes commits or rolls back with them, and a subscriber that throws rolls them
 * back.
 */
export type ConsentChangedSubscriber = (
  tx: EntityManager,
  app: AppRef,
  changes: readonly ConsentChanged[],
) => Promise<void>;

/**
 * "Consent changed", published by ConsentService for every applied change, inside its
 * transaction (in sets: see ConsentChangedSubscriber) (an in-process, in-transaction event sink). Subscribers (e.g. callbacks) register
 * at module init and are called one after the other, in registration order. Consent knows none of
 * them.
 */
@Injectable()
export class ConsentEvents {
  private readonly subscribers: ConsentChangedSubscriber[] = [];

  /** Adds a subscriber; returns the function that removes it again. */
  subscribe(subscriber: ConsentChangedSubscriber): () => void {
    this.subscribers.push(subscriber);
    return () => {
      const i = this.subscribers.indexOf(subscriber);
      if (i >= 0) this.subscribers.splice(i, 1);
    };
  }

  /** Publishes the changes applied together (none: nothing is called). */
  async publish(tx: EntityManager, app: AppRef, changes: readonly ConsentChanged[]): Promise<void> {
    if (changes.length === 0) return;
    for (const subscriber of this.subscribers) await subscriber(tx, app, changes);
  }
}

/** ConsentEvents alone, for subscribers that need nothing else of consent/. */
@Module({ providers: [ConsentEvents], exports: [ConsentEvents] })
export class ConsentEventsModule {}
