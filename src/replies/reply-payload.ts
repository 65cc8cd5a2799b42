import type { ListType } from '../consent/domain/consent-types.js';
import { MAX_LAST_ERROR_CHARS } from '../jobs/job-queue.repository.js';

/** outbox_jobs.kind of a confirmation reply sent through Sinch messages:send. */
export const SINCH_REPLY = 'SINCH_REPLY';

export type ReplyAction = 'OPT_OUT' | 'OPT_IN' | 'HELP';

/** What a SINCH_REPLY job carries (outbox_jobs.payload). */
export type SinchReplyPayload = {
  /** Conversation API channel of the inbound message, e.g. SMS, WHATSAPP. */
  channel: string;
  /** The end user's channel identity, as Sinch sent it (the reply goes to it unchanged). */
  identity: string;
  /**
   * The identity normalised as the consent change used it: the reply's audit record is filed
   * under it. Absent in jobs queued before the reply outcomes were audited.
   */
  normalized_identity?: string;
  /** The keyword's list (null for HELP), kept on the reply's audit record. */
  list_type?: ListType | null;
  /** The reply text. Never logged, never returned by the API, never in last_error. */
  text: string;
  /** Sinch's id of the inbound message the reply answers. */
  inbound_message_id: string;
  action: ReplyAction;
  language: string;
  /** Set on an operator's redelivery (POST .../reply-jobs/{id}:redeliver): the FAILED job. */
  redelivery_of?: string;
};

/** The payload of a claimed job, or null when it lacks a field the send needs. */
export function parseReplyPayload(raw: unknown): SinchReplyPayload | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const p = raw as Record<string, unknown>;
  for (const key of ['channel', 'identity', 'text', 'inbound_message_id', 'action', 'language']) {
    if (typeof p[key] !== 'string') return null;
  }
  if (!p.channel || !p.identity || !p.text) return null;
  return p as unknown as SinchReplyPayload;
}

/**
 * An error string safe to store and log: without the message text or the recipient identity
 * (the Sinch client already redacts them; this is the second line of defence), at most 500 chars.
 */
export function safeJobError(
  error: string,
  payload: Pick<SinchReplyPayload, 'text' | 'identity'>,
): string {
  let out = error;
  for (const secret of [payload.text, payload.identity]) {
    const s = typeof secret === 'string' ? secret.trim() : '';
    if (s.length >= 4) out = out.split(s).join('[redacted]');
  }
  return clipError(out);
}

export function clipError(s: string): string {
  return s.length <= MAX_LAST_ERROR_CHARS ? s : `${s.slice(0, MAX_LAST_ERROR_CHARS - 1)}…`;
}
