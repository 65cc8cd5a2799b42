import { createHash } from 'node:crypto';

/** Identities (phone numbers) never reach logs in clear: only a short salted hash does. */
export function hashForLog(value: string, salt: string): string {
  return createHash('sha256').update(salt).update('\0').update(value).digest('hex').slice(0, 12);
}
