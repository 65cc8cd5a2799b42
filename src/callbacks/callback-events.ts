import type { ListType, Origin } from '../consent/domain/consent-types.js';

/** A consent change to announce (OPT_OUT = put on a list, OPT_IN = taken off). */
export interface ConsentChangedEvent {
  trigger: 'OPT_IN' | 'OPT_OUT';
  identity: string;
  listType: ListType;
  origin: Origin;
  auditRecordId: string;
  eventTime: Date;
  /** The Sinch channel, when the change came from a channel (keyword or Sinch notification). */
  channel?: string | null;
  contactId?: string | null;
}

/** A send the gate blocked (PRIMARY) or forwarded to an opted-out identity (SECONDARY). */
export interface SendGateEvent {
  trigger: 'SEND_BLOCKED' | 'SENT_TO_OPTED_OUT';
  identity: string;
  channel: string | null;
  lists: ListType[];
  messageContentType: string;
  sendAttemptId: string;
  eventTime: Date;
  correlationId?: string | null;
}

export type CallbackEvent = ConsentChangedEvent | SendGateEvent;
