/**
 * Identity normalisation. Phone numbers are stored Sinch style: digits only, no '+', so
 * "+46 73-200 11 22" and "46732001122" are one identity. Anything that does not look like a phone
 * number (Messenger PSIDs, Viber ids, ...) is kept exactly as given.
 */
export const MAX_IDENTITY_LENGTH = 256;

export class InvalidIdentityError extends Error {}

const PHONE_LIKE = /^\+?[\d\s\-().]+$/;
// C0/C1 control characters, DEL, and Unicode line/paragraph separators.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

export function normalizeIdentity(raw: unknown): string {
  if (typeof raw !== 'string') throw new InvalidIdentityError('must be a string');
  // Fast path for the common case, already-normalised phone numbers (hot in batch checks).
  if (raw.length <= MAX_IDENTITY_LENGTH && isDigits(raw)) return raw;
  if (CONTROL.test(raw)) throw new InvalidIdentityError('must not contain control characters');
  const trimmed = raw.trim();
  if (trimmed.length === 0) throw new InvalidIdentityError('must not be empty');
  if (trimmed.length > MAX_IDENTITY_LENGTH)
    throw new InvalidIdentityError(`must be at most ${MAX_IDENTITY_LENGTH} characters`);
  if (/^\d+$/.test(trimmed)) return trimmed;
  if (PHONE_LIKE.test(trimmed) && /\d/.test(trimmed)) {
    const digits = trimmed.replace(/\D/g, '');
    if (digits.length < 3 || digits.length > 15)
      throw new InvalidIdentityError('looks like a phone number but has not 3 to 15 digits');
    return digits;
  }
  return trimmed;
}
