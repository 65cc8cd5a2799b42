import { createHash } from 'node:crypto';
import type { SinchEvent } from './sinch-event.js';

/** A Sinch event of a trigger the service acts on. */
export type HandledEvent = Exclude<SinchEvent, { trigger: 'OTHER' }>;

/**
 * The idempotency key of a delivery, unique per app: what makes two deliveries the same event
 * (Sinch redelivers the same message id, request id, or delivery report id + status). A Sinch
 * opt notification without a request_id is keyed by what it says. `identity` is the event's
 * identity, normalised.
 */
export function deliveryKeyOf(event: HandledEvent, identity: string | null): string {
  return fitDeliveryKey(derivedKey(event, identity));
}

function derivedKey(event: HandledEvent, identity: string | null): string {
  switch (event.trigger) {
    case 'MESSAGE_INBOUND':
      return `inbound:${event.messageId}`;
    case 'MESSAGE_DELIVERY':
      return `delivery:${event.messageId}:${event.status}`;
    case 'OPT_IN':
    case 'OPT_OUT':
      return `${event.trigger.toLowerCase()}:${event.requestId ?? `${event.channel}:${identity}:${event.status}:${event.eventTime.toISOString()}`}`;
  }
}

/** webhook_deliveries.delivery_key is varchar(300). */
const MAX_DELIVERY_KEY_CHARS = 300;

/**
 * The delivery key as derived, or, when it is longer than the column (a notification without
 * request_id for a long identity), its trigger prefix and a SHA-256 of it: still one key per
 * delivery. Ids are bounded by parseSinchEvent, so only that composite key can grow so long.
 */
function fitDeliveryKey(key: string): string {
  if (key.length <= MAX_DELIVERY_KEY_CHARS) return key;
  const prefix = key.slice(0, key.indexOf(':') + 1);
  return `${prefix}sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}
