import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// Sinch's webhook signing scheme, both ways: verifying the webhooks Sinch sends us (webhooks/)
// and signing the callbacks we send (callbacks/), so that the official SDK's
// validateWebhookSignature accepts them.

/** The header names of the scheme (lower case, as Fastify presents them). */
export const SIGNATURE_HEADER = 'x-sinch-webhook-signature';
export const NONCE_HEADER = 'x-sinch-webhook-signature-nonce';
export const TIMESTAMP_HEADER = 'x-sinch-webhook-signature-timestamp';
export const ALGORITHM_HEADER = 'x-sinch-webhook-signature-algorithm';

/**
 * base64(HMAC-SHA256(secret, rawBody + "." + nonce + "." + timestamp)), computed on the exact raw
 * bytes of the body, with the secret's UTF-8 bytes as the key.
 */
export function computeSignature(
  secret: string,
  rawBody: Buffer | string,
  nonce: string,
  timestamp: string,
): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8'))
    .update(rawBody)
    .update(`.${nonce}.${timestamp}`, 'utf8')
    .digest('base64');
}

export interface SignatureHeaders {
  signature?: string;
  nonce?: string;
  timestamp?: string;
}

export type SignatureVerdict =
  | { ok: true; nonce: string }
  | {
      ok: false;
      reason: 'MISSING_HEADERS' | 'BAD_TIMESTAMP' | 'STALE_TIMESTAMP' | 'BAD_SIGNATURE';
    };

/**
 * Checks the headers against every configured secret (two during rotation), in constant time,
 * and that the timestamp (Unix seconds) is within ±windowS of now. Replay (nonce reuse) is
 * checked by the caller against the shared nonce store.
 */
export function verifySignature(
  secrets: readonly string[],
  headers: SignatureHeaders,
  rawBody: Buffer,
  nowMs: number,
  windowS: number,
): SignatureVerdict {
  const { signature, nonce, timestamp } = headers;
  if (!signature || !nonce || !timestamp) return { ok: false, reason: 'MISSING_HEADERS' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'BAD_TIMESTAMP' };
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > windowS)
    return { ok: false, reason: 'STALE_TIMESTAMP' };
  const given = Buffer.from(signature, 'base64');
  let match = false;
  for (const secret of secrets) {
    const expected = Buffer.from(computeSignature(secret, rawBody, nonce, timestamp), 'base64');
    // Compare every secret (no early exit) so timing does not reveal which one matched.
    if (given.length === expected.length && timingSafeEqual(given, expected)) match = true;
  }
  return match ? { ok: true, nonce } : { ok: false, reason: 'BAD_SIGNATURE' };
}

/** The signature headers of one outgoing body: a fresh nonce and timestamp, signed with the secret. */
export function signatureHeadersFor(
  secret: string,
  body: string,
  nowMs: number = Date.now(),
  nonce: string = randomBytes(18).toString('base64url'),
): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  return {
    [SIGNATURE_HEADER]: computeSignature(secret, body, nonce, timestamp),
    [NONCE_HEADER]: nonce,
    [TIMESTAMP_HEADER]: timestamp,
    [ALGORITHM_HEADER]: 'HmacSHA256',
  };
}

/** The signature headers of an incoming request, as verifySignature takes them. */
export function signatureHeadersOf(headers: Record<string, string | undefined>): SignatureHeaders {
  return {
    signature: headers[SIGNATURE_HEADER],
    nonce: headers[NONCE_HEADER],
    timestamp: headers[TIMESTAMP_HEADER],
  };
}
