/**
 * Identity normalisation. Phone numbers are stored Sinch style: digits only, no '+', so
 * "+46 73-200 11 22" and "46732001122" are one identity. Anything that does not look like a phone
 * number (Messenger PSIDs, Viber ids, ...) is kept exactly as given.
 */
export const MAX_IDENTITY_LENGTH = 256;

export class InvalidIdentityError extends Error {}

/**
 * How an erased identity is stored: this prefix and the hex of its keyed hash (the audit chain's
 * identity_key). Reserved: no identity given to the service may take this form (an API user who
 * could write it could change an erased identity's consent without knowing the number).
 */
export const ERASED_PREFIX = 'erased:';
const ERASED_FORM = /^erased:[0-9a-f]{64}$/;

/** True for the stored form of an erased identity. */
export function isErasedForm(identity: string): boolean {
  return ERASED_FORM.test(identity);
}

/**
 * An identity as a lookup takes it (the state, audit trail or evidence of one identity): a
 * normalised identity, or the stored form of an erased one, which only reads accept.
 */
export function normalizeLookupIdentity(raw: unknown): string {
  if (typeof raw === 'string' && isErasedForm(raw)) return raw;
  return normalizeIdentity(raw);
}

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
  if (trimmed.startsWith(ERASED_PREFIX))
    throw new InvalidIdentityError(
      `must not start with "${ERASED_PREFIX}" (the form of an erased identity: only lookups take it)`,
    );
  if (PHONE_LIKE.test(trimmed) && /\d/.test(trimmed)) {
    const digits = trimmed.replace(/\D/g, '');
    if (digits.length < 3 || digits.length > 15)
      throw new InvalidIdentityError('looks like a phone number but has not 3 to 15 digits');
    return digits;
  }
  return trimmed;
}
