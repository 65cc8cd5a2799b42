import { decodePageToken, InvalidPageTokenError } from '../consent/domain/page-token.js';
import { ApiError } from './api-error.js';

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
