import type { EntityManager } from 'typeorm';
import type { AppRef } from '../../kernel/app-ref.js';
import type { ChangeContext } from '../../consent/consent.service.js';
import { Origin } from '../../consent/domain/consent-types.js';
import type { HandledEvent } from '../domain/delivery-key.js';

/** What a handler did with a delivery: webhook_deliveries.outcome and .details. */
export interface Handled {
  outcome: string;
  details: Record<string, unknown>;
  /** The reason code of a delivery report recorded as RECIPIENT_REFUSED (for the metrics). */
  refusalReason?: string;
}

/** A claimed delivery, as its handler sees it. */
export interface Delivery<E extends HandledEvent> {
  app: AppRef;
  event: E;
  /** The event's identity, normalised (null when it has none). */
  identity: string | null;
}

/**
 * The handling of one Sinch trigger (WebhooksService picks it by trigger). `prepare`, when there
 * is one, does what needs no transaction (reads of cached configuration) before the transaction
 * opens; `apply` runs inside the delivery's transaction, once the delivery is claimed, with what
 * prepare returned: every write of it commits with the delivery record, or none does.
 */
export interface TriggerHandler<E extends HandledEvent, P = undefined> {
  prepare?(app: AppRef, event: E): Promise<P>;
  apply(tx: EntityManager, delivery: Delivery<E>, prepared: P): Promise<Handled>;
}

/** The handler of each trigger (what a handler prepares is its own business). */
export type TriggerHandlers = {
  [T in HandledEvent['trigger']]: TriggerHandler<Extract<HandledEvent, { trigger: T }>, unknown>;
};

/** The consent-change context of a change a channel event asked for. */
export function channelChangeContext(
  app: AppRef,
  event: { channel: string; contactId: string | null },
): ChangeContext {
  return {
    app,
    origin: Origin.ORIGIN_MO,
    actor: `sinch:${event.channel}`,
    channel: event.channel,
    contactId: event.contactId,
  };
}
