// Framework-free parts of the callbacks: the JSON body (Sinch's callback envelope), its signature
// headers (Sinch's webhook signing scheme), the target URL rules, and how an HTTP answer or a
// network failure is classified.
//
// Wire format, checked against @sinch/sdk-core 1.4.0 (test/callbacks.e2e-spec.ts verifies real
// deliveries with its validateWebhookSignature and ConversationCallbackWebhooks.parseEvent):
// - envelope: app_id, project_id, accepted_time, event_time, message_metadata, correlation_id and
//   exactly one payload key; parseEvent picks the trigger from that key (opt_in_notification ->
//   OPT_IN, opt_out_notification -> OPT_OUT). Our send events use our own key,
//   consent_gate_send_notification, which the SDK does not know (parseEvent throws on it).
// - signature: x-sinch-webhook-signature = base64(HMAC-SHA256(secret, body + "." + nonce + "." +
//   timestamp)); the SDK compares it with the body string exactly as received.
import { retryAfterOf } from '../common/retry-after.js';
import type { AppRef } from '../kernel/app-ref.js';
import { signatureHeadersFor } from '../kernel/sinch-signature.js';
import type { ConsentChanged } from '../consent/consent-events.js';
import type { CallbackEvent, SendGateEvent } from './callback-events.js';
import { CallbackTrigger } from './callback-events.js';

/** outbox_jobs.kind of a callback delivery. */
export const CALLBACK_JOB = 'CALLBACK';

/** The payload key of the send-gate events (ours; Sinch has no such callback). */
export const SEND_NOTIFICATION_KEY = 'consent_gate_send_notification';

export const MAX_TARGET_URL_LENGTH = 2048;

/** What a CALLBACK job carries (outbox_jobs.payload). */
export interface CallbackJobPayload {
  subscription_id: string;
  /** ULID of the event; also the notification's request_id / event_id. */
  event_id: string;
  /** From the callback_event_seq sequence: increases with every event, across apps. */
  sequence: number;
  trigger: CallbackTrigger;
  /** The exact JSON text to send (and sign); kept as text so that every attempt is identical. */
  body: string;
  /** Set on a manual redelivery: the job whose body is sent again. */
  redelivery_of?: string;
}

export interface EventMeta {
  eventId: string;
  sequence: number;
  acceptedTime: Date;
}

/** The JSON body of one event, in Sinch's callback envelope. */
export function buildCallbackBody(app: AppRef, event: CallbackEvent, meta: EventMeta): string {
  const envelope = {
    app_id: app.appId,
    project_id: app.projectId,
    accepted_time: meta.acceptedTime.toISOString(),
    event_time: event.eventTime.toISOString(),
    message_metadata: '',
    correlation_id: '',
  };
  if (isConsentEvent(event)) {
    const optOut = event.trigger === 'OPT_OUT';
    const notification = {
      contact_id: event.contactId ?? '',
      channel: event.channel || 'CHANNEL_UNSPECIFIED',
      identity: event.identity,
      status: optOut ? 'OPT_OUT_SUCCEEDED' : 'OPT_IN_SUCCEEDED',
      request_id: meta.eventId,
      processing_mode: 'DISPATCH',
      list_type: event.listType,
      origin: event.origin,
      audit_record_id: event.auditRecordId,
      sequence: meta.sequence,
    };
    return JSON.stringify({
      ...envelope,
      [optOut ? 'opt_out_notification' : 'opt_in_notification']: notification,
    });
  }
  const correlationId = event.correlationId ?? '';
  return JSON.stringify({
    ...envelope,
    // Sinch's envelope field means "the correlation_id of the send request": exactly this case.
    correlation_id: correlationId,
    [SEND_NOTIFICATION_KEY]: {
      type: event.trigger,
      identity: event.identity,
      channel: event.channel || 'CHANNEL_UNSPECIFIED',
      lists: event.lists,
      message_content_type: event.messageContentType,
      send_attempt_id: event.sendAttemptId,
      correlation_id: correlationId,
      sequence: meta.sequence,
      event_id: meta.eventId,
    },
  });
}

function isConsentEvent(event: CallbackEvent): event is ConsentChanged {
  return event.trigger === 'OPT_IN' || event.trigger === 'OPT_OUT';
}

export function isSendEvent(event: CallbackEvent): event is SendGateEvent {
  return !isConsentEvent(event);
}

/** The headers of one delivery attempt: a fresh nonce and timestamp, signed with the secret. */
export function signedHeaders(
  secret: string,
  body: string,
  nowMs?: number,
  nonce?: string,
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'consent-gate-callbacks/1',
    ...signatureHeadersFor(secret, body, nowMs, nonce),
  };
}

/**
 * Why a callback target URL is refused, or null when it is fine: it must parse, be http(s), have
 * a host, carry no credentials (fetch refuses them; put a token in the path or query instead) and
 * be at most 2048 characters.
 */
export function targetUrlProblem(value: unknown): string | null {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0) return 'must not be empty';
  if (value.length > MAX_TARGET_URL_LENGTH)
    return `must be at most ${MAX_TARGET_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute http or https URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http or https URL';
  if (!url.hostname) return 'must name a host';
  if (url.username || url.password) return 'must not contain credentials (user:password@)';
  return null;
}

/** The result of one delivery attempt. */
export type AttemptResult =
  | { ok: true; status: number; durationMs: number }
  | {
      ok: false;
      retryable: boolean;
      status: number | null;
      /** Short, without the URL, the secret or the body. */
      error: string;
      durationMs: number;
      /** The wait a 429 or 503 asked for in its Retry-After header, in ms from the answer. */
      retryAfterMs?: number;
    };

/**
 * 2xx succeeds; 429 and 5xx are retried; any other answer (other 4xx, and 1xx/3xx since
 * redirects are not followed) gives up at once.
 */
export function classifyStatus(status: number): 'SUCCEEDED' | 'RETRY' | 'GIVE_UP' {
  if (status >= 200 && status < 300) return 'SUCCEEDED';
  if (status === 429 || status >= 500) return 'RETRY';
  return 'GIVE_UP';
}

/** A short description of a failed fetch (network error or timeout), never with the URL. */
export function describeNetworkError(e: unknown, timeoutMs: number): string {
  const err = e as { name?: unknown; cause?: { code?: unknown; name?: unknown } } | null;
  if (err && (err.name === 'TimeoutError' || err.name === 'AbortError'))
    return `timeout after ${timeoutMs} ms`;
  const cause = err?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : null;
  if (code && /^[A-Z0-9_]{2,40}$/.test(code)) {
    if (code === 'ECONNREFUSED') return 'network error: connection refused (ECONNREFUSED)';
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT')
      return `timeout after ${timeoutMs} ms (${code})`;
    return `network error (${code})`;
  }
  if (cause && (cause.name === 'TimeoutError' || cause.name === 'AbortError'))
    return `timeout after ${timeoutMs} ms`;
  return 'network error';
}

/**
 * POSTs one signed callback. Never throws. The response body is not read (only its status and a
 * 429's or 503's Retry-After header matter), and redirects are not followed.
 */
export async function sendCallback(
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<AttemptResult> {
  const started = performance.now();
  const elapsed = (): number => Math.max(0, Math.round(performance.now() - started));
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    return {
      ok: false,
      retryable: true,
      status: null,
      error: describeNetworkError(e, timeoutMs),
      durationMs: elapsed(),
    };
  }
  const durationMs = elapsed();
  // Release the connection without reading what may be a large body.
  await res.body?.cancel().catch(() => undefined);
  const verdict = classifyStatus(res.status);
  if (verdict === 'SUCCEEDED') return { ok: true, status: res.status, durationMs };
  const retryAfterMs = retryAfterOf(res.status, res.headers.get('retry-after'), Date.now());
  const reason =
    res.status >= 300 && res.status < 400
      ? 'redirect not followed'
      : verdict === 'RETRY'
        ? 'retryable'
        : 'not retryable';
  return {
    ok: false,
    retryable: verdict === 'RETRY',
    status: res.status,
    error: `HTTP ${res.status} (${reason})`,
    durationMs,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
}

/** The triggers in their canonical order, for stable output. */
export const TRIGGER_ORDER: readonly CallbackTrigger[] = [
  CallbackTrigger.OPT_IN,
  CallbackTrigger.OPT_OUT,
  CallbackTrigger.SEND_BLOCKED,
  CallbackTrigger.SENT_TO_OPTED_OUT,
];

export function sortTriggers(triggers: readonly CallbackTrigger[]): CallbackTrigger[] {
  return TRIGGER_ORDER.filter((t) => triggers.includes(t));
}
