import { ApiError } from '../common/api-error.js';
import { unstorable } from '../common/json-body.js';

/**
 * Opaque keyset page tokens, for every paged listing: base64url of a small versioned JSON
 * document holding the last position of the previous page (an identity, or a row id). Anything
 * else is rejected as a bad token.
 */
export class InvalidPageTokenError extends Error {}

export function encodePageToken(after: string): string {
  return Buffer.from(JSON.stringify({ v: 1, a: after }), 'utf8').toString('base64url');
}

export function decodePageToken(token: string): string {
  if (!/^[A-Za-z0-9_-]{1,2048}$/.test(token))
    throw new InvalidPageTokenError('malformed page_token');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidPageTokenError('malformed page_token');
  }
  const doc = parsed as { v?: unknown; a?: unknown };
  if (!doc || doc.v !== 1 || typeof doc.a !== 'string' || doc.a.length === 0)
    throw new InvalidPageTokenError('malformed page_token');
  // The position goes into a query: PostgreSQL refuses NUL and lone surrogates.
  if (unstorable(doc.a) !== null) throw new InvalidPageTokenError('malformed page_token');
  return doc.a;
}

/** Row ids are PostgreSQL bigints. */
const MAX_BIGINT = 2n ** 63n - 1n;

/**
 * The position in a `page_token` query parameter, or undefined without one; a token that does not
 * decode (or, with `numericId`, does not hold a row id) is a 400 naming page_token.
 */
export function readPageToken(token: string | undefined, numericId = false): string | undefined {
  if (!token) return undefined;
  try {
    const position = decodePageToken(token);
    if (numericId && !(/^\d{1,19}$/.test(position) && BigInt(position) <= MAX_BIGINT))
      throw new InvalidPageTokenError('not an id');
    return position;
  } catch (e) {
    if (e instanceof InvalidPageTokenError)
      throw ApiError.field('page_token', 'is not a valid page token');
    throw e;
  }
}
