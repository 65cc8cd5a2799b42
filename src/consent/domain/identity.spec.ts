import { describe, expect, it } from '@jest/globals';
import { InvalidIdentityError, normalizeIdentity } from './identity.js';

describe('normalizeIdentity', () => {
  it.each([
    ['+46 73-200 11 22', '46732001122'],
    ['46732001122', '46732001122'],
    ['+1 (555) 123.1212', '15551231212'],
    ['  +15551231212 ', '15551231212'],
  ])('stores phone number %p as %p', (raw, expected) => {
    expect(normalizeIdentity(raw)).toBe(expected);
  });

  it('keeps non-phone identities as given (trimmed)', () => {
    expect(normalizeIdentity('PSID-6565986766772392')).toBe('PSID-6565986766772392');
    expect(normalizeIdentity(' user@example.com ')).toBe('user@example.com');
    // Long digit-only ids (Messenger PSIDs) are not phone numbers but stay as they are.
    expect(normalizeIdentity('65659867667723921234')).toBe('65659867667723921234');
  });

  it.each([
    ['', 'must not be empty'],
    ['   ', 'must not be empty'],
    ['a'.repeat(257), 'at most 256'],
    ['4673\n2001122', 'control characters'],
    ['abc\u0000', 'control characters'],
    ['+1 2', '3 to 15 digits'],
    ['+1 234 567 890 123 456', '3 to 15 digits'],
  ])('rejects %p', (raw, message) => {
    expect(() => normalizeIdentity(raw)).toThrow(InvalidIdentityError);
    expect(() => normalizeIdentity(raw)).toThrow(message);
  });

  it('rejects non-strings', () => {
    expect(() => normalizeIdentity(42)).toThrow('must be a string');
  });
});
