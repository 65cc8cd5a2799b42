import { calculateWebhookSignature, computeSignedData } from '@sinch/sdk-core';
import { randomBytes } from 'node:crypto';

/** A message id shaped like Sinch's (ULID-like: 26 upper-case characters). */
export const sinchMessageId = () => `01${randomBytes(12).toString('hex').toUpperCase()}`;

/** A MESSAGE_INBOUND callback carrying a text, in Sinch's wire format (sinch.md §3). */
export function inboundText(
  projectId: string,
  appId: string,
  text: string,
  opts: {
    id?: string;
    eventTime?: Date | string;
    identity?: string;
    channel?: string;
    contactId?: string;
    processingMode?: 'DISPATCH' | 'CONVERSATION';
  } = {},
) {
  const eventTime = opts.eventTime ?? new Date();
  return {
    app_id: appId,
    project_id: projectId,
    accepted_time: new Date().toISOString(),
    event_time: typeof eventTime === 'string' ? eventTime : eventTime.toISOString(),
    message: {
      id: opts.id ?? sinchMessageId(),
      direction: 'TO_APP',
      contact_message: { text_message: { text } },
      channel_identity: {
        channel: opts.channel ?? 'SMS',
        identity: opts.identity ?? '46732001122',
        app_id: '',
      },
      contact_id: opts.contactId ?? '',
      conversation_id: '',
      metadata: '',
      accept_time: new Date().toISOString(),
      processing_mode: opts.processingMode ?? 'DISPATCH',
    },
    message_metadata: '',
  };
}

/**
 * Sinch's signature headers for `body`, computed with the official SDK's own helpers (the test
 * oracle): x-sinch-webhook-signature, -nonce, -timestamp and -algorithm.
 */
export function signatureHeaders(
  body: string,
  secret: string,
  opts: { nonce?: string; timestamp?: number } = {},
): Record<string, string> {
  const nonce = opts.nonce ?? randomBytes(13).toString('hex');
  const timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  return {
    'x-sinch-webhook-signature': calculateWebhookSignature(
      computeSignedData(body, nonce, timestamp),
      secret,
    ),
    'x-sinch-webhook-signature-nonce': nonce,
    'x-sinch-webhook-signature-timestamp': timestamp,
    'x-sinch-webhook-signature-algorithm': 'HmacSHA256',
  };
}
