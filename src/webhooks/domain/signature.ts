import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Sinch webhook signatures: base64(HMAC-SHA256(secret, rawBody + "." + nonce + "." + timestamp)),
 * computed on the exact raw bytes of the body, with the secret's UTF-8 bytes as the key.
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
