/**
 * Sinch Conversation API callbacks carry no trigger field: the payload key tells (the official
 * SDK's parseEvent does the same). This module turns a parsed body into one typed event.
 */

/** Payload keys of every Sinch trigger, mapped to its trigger name (SDK order). */
const PAYLOAD_KEYS: Record<string, string> = {
  message: 'MESSAGE_INBOUND',
  message_redaction: 'MESSAGE_INBOUND_SMART_CONVERSATION_REDACTION',
  message_submit_notification: 'MESSAGE_SUBMIT',
  message_delivery_report: 'MESSAGE_DELIVERY',
  event: 'EVENT_INBOUND',
  event_delivery_report: 'EVENT_DELIVERY',
  conversation_start_notification: 'CONVERSATION_START',
  conversation_stop_notification: 'CONVERSATION_STOP',
  conversation_delete_notification: 'CONVERSATION_DELETE',
  contact_create_notification: 'CONTACT_CREATE',
  contact_delete_notification: 'CONTACT_DELETE',
  contact_merge_notification: 'CONTACT_MERGE',
  contact_update_notification: 'CONTACT_UPDATE',
  duplicated_identities: 'CONTACT_IDENTITIES_DUPLICATION',
  capability_notification: 'CAPABILITY',
  opt_in_notification: 'OPT_IN',
  opt_out_notification: 'OPT_OUT',
  channel_event_notification: 'CHANNEL_EVENT',
  unsupported_callback: 'UNSUPPORTED',
  smart_conversation_notification: 'SMART_CONVERSATIONS',
  record_notification: 'RECORD_NOTIFICATION',
};

/** A body that is not a Sinch callback we can record: `field` names what is wrong. */
export class MalformedEventError extends Error {
  constructor(
    readonly field: string,
    readonly description: string,
  ) {
    super(field ? `${field} ${description}` : description);
  }
}

/**
 * The longest values the delivery record holds (webhook_deliveries.delivery_key is varchar(300),
 * contact_identities.channel varchar(32) and contact_id varchar(64)). Sinch's own ids are ULIDs
 * of 26 characters; anything longer than these is refused with a 400 before a row is written.
 */
export const MAX_EVENT_ID_CHARS = 200;
export const MAX_STATUS_CHARS = 64;
export const MAX_CHANNEL_CHARS = 32;
/** Kept only in jsonb details (and, for the three refusal reasons, in the audit reason). */
const MAX_REASON_CODE_CHARS = 256;
export const MAX_CONTACT_ID_CHARS = 64;

interface Envelope {
  projectId: string;
  appId: string;
  /** When the event happened: event_time, else the message's accept_time, else accepted_time. */
  eventTime: Date;
}

export type SinchEvent = Envelope &
  (
    | {
        trigger: 'MESSAGE_INBOUND';
        messageId: string;
        channel: string;
        identity: string;
        /** The text of a text message; null for media, location, choice and other kinds. */
        text: string | null;
        contactId: string | null;
      }
    | {
        trigger: 'OPT_IN' | 'OPT_OUT';
        requestId: string | null;
        channel: string;
        identity: string;
        status: string;
        contactId: string | null;
        notification: Record<string, unknown>;
      }
    | {
        trigger: 'MESSAGE_DELIVERY';
        messageId: string;
        status: string;
        channel: string | null;
        identity: string | null;
        reasonCode: string | null;
      }
    | { trigger: 'OTHER'; name: string }
  );

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function str(o: Obj, key: string, where: string, max: number, required = true): string | null {
  const v = o[key];
  const field = `${where}.${key}`;
  if (typeof v === 'string' && v.length > 0) {
    if (v.length > max) throw new MalformedEventError(field, `must be at most ${max} characters`);
    return v;
  }
  if (!required && (v === undefined || v === null || v === '')) return null;
  throw new MalformedEventError(field, 'must be a non-empty string');
}

/** app_id and project_id: as long as the columns. */
const MAX_RESOURCE_ID_CHARS = 64;
/** Identities are normalised (at most 256 characters) later; this only bounds the raw text. */
const MAX_RAW_IDENTITY_CHARS = 1024;

function date(v: unknown): Date | null {
  if (typeof v !== 'string') return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function parseSinchEvent(body: unknown, now = new Date()): SinchEvent {
  if (!isObj(body)) throw new MalformedEventError('', 'the body must be a JSON object');
  const appId = str(body, 'app_id', 'body', MAX_RESOURCE_ID_CHARS)!;
  const projectId = str(body, 'project_id', 'body', MAX_RESOURCE_ID_CHARS)!;
  const keys = Object.keys(body).filter((k) => k in PAYLOAD_KEYS);
  if (keys.length !== 1) {
    throw new MalformedEventError(
      '',
      keys.length === 0 ? 'no known Sinch payload key' : 'more than one Sinch payload key',
    );
  }
  const key = keys[0]!;
  const payload = body[key];
  if (!isObj(payload)) throw new MalformedEventError(key, 'must be an object');
  const base = (extra?: unknown): Envelope => ({
    projectId,
    appId,
    eventTime: date(body.event_time) ?? date(extra) ?? date(body.accepted_time) ?? now,
  });

  switch (key) {
    case 'message': {
      const ci = payload.channel_identity;
      if (!isObj(ci))
        throw new MalformedEventError('message.channel_identity', 'must be an object');
      const contact = payload.contact_message;
      const textMessage = isObj(contact) ? contact.text_message : undefined;
      const text =
        isObj(textMessage) && typeof textMessage.text === 'string' ? textMessage.text : null;
      return {
        ...base(payload.accept_time),
        trigger: 'MESSAGE_INBOUND',
        messageId: str(payload, 'id', 'message', MAX_EVENT_ID_CHARS)!,
        channel: str(ci, 'channel', 'message.channel_identity', MAX_CHANNEL_CHARS)!,
        identity: str(ci, 'identity', 'message.channel_identity', MAX_RAW_IDENTITY_CHARS)!,
        text,
        contactId: str(payload, 'contact_id', 'message', MAX_CONTACT_ID_CHARS, false),
      };
    }
    case 'opt_in_notification':
    case 'opt_out_notification':
      return {
        ...base(),
        trigger: key === 'opt_in_notification' ? 'OPT_IN' : 'OPT_OUT',
        requestId: str(payload, 'request_id', key, MAX_EVENT_ID_CHARS, false),
        channel: str(payload, 'channel', key, MAX_CHANNEL_CHARS)!,
        identity: str(payload, 'identity', key, MAX_RAW_IDENTITY_CHARS)!,
        status: str(payload, 'status', key, MAX_STATUS_CHARS)!,
        contactId: str(payload, 'contact_id', key, MAX_CONTACT_ID_CHARS, false),
        notification: payload,
      };
    case 'message_delivery_report': {
      const ci = isObj(payload.channel_identity) ? payload.channel_identity : {};
      const reason = isObj(payload.reason) ? payload.reason : {};
      return {
        ...base(),
        trigger: 'MESSAGE_DELIVERY',
        messageId: str(payload, 'message_id', key, MAX_EVENT_ID_CHARS)!,
        status: str(payload, 'status', key, MAX_STATUS_CHARS)!,
        channel: str(ci, 'channel', `${key}.channel_identity`, MAX_CHANNEL_CHARS, false),
        identity: str(ci, 'identity', `${key}.channel_identity`, MAX_RAW_IDENTITY_CHARS, false),
        reasonCode: str(reason, 'code', `${key}.reason`, MAX_REASON_CODE_CHARS, false),
      };
    }
    default:
      return { ...base(), trigger: 'OTHER', name: PAYLOAD_KEYS[key]! };
  }
}

/** Delivery report reasons that suggest the recipient refused our messages. */
export const REFUSAL_REASONS = new Set([
  'RECIPIENT_NOT_OPTED_IN',
  'DELIVERY_REJECTED_DUE_TO_POLICY',
  'CHANNEL_REJECT',
]);
