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

/** The part of a delivery that runs inside its transaction, once the delivery is claimed. */
export type DeliveryStep = (tx: EntityManager, identity: string | null) => Promise<Handled>;

/**
 * The handling of one Sinch trigger (WebhooksService picks it by trigger). `prepare` does what
 * needs no transaction (reads of cached configuration) and returns the step that runs inside the
 * delivery's transaction: every write of the step commits with the delivery record, or none does.
 */
export interface TriggerHandler<E extends HandledEvent> {
  prepare(app: AppRef, event: E): Promise<DeliveryStep>;
}

/** The handler of each trigger. */
export type TriggerHandlers = {
  [T in HandledEvent['trigger']]: TriggerHandler<Extract<HandledEvent, { trigger: T }>>;
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
