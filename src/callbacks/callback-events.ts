import type { ConsentChanged } from '../consent/consent-events.js';
import type { ListType } from '../consent/domain/consent-types.js';

/** The triggers a callback subscription can ask for. */
export enum CallbackTrigger {
  OPT_IN = 'OPT_IN',
  OPT_OUT = 'OPT_OUT',
  SEND_BLOCKED = 'SEND_BLOCKED',
  SENT_TO_OPTED_OUT = 'SENT_TO_OPTED_OUT',
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

/** What a callback announces: a consent change (published by consent/) or a send-gate event. */
export type CallbackEvent = ConsentChanged | SendGateEvent;
