import { describe, expect, it } from '@jest/globals';
import { decodePageToken, encodePageToken, InvalidPageTokenError } from './page-token.js';

describe('page tokens', () => {
  it('round-trip any identity, opaquely', () => {
    for (const id of ['46732001122', 'user@example.com', 'ünïcödé id']) {
      const token = encodePageToken(id);
      expect(token).not.toContain(id);
      expect(decodePageToken(token)).toBe(id);
    }
  });

  it.each([
    '',
    'not a token!',
    'AAAA',
    Buffer.from('{"v":2,"a":"x"}').toString('base64url'),
    Buffer.from('{"v":1}').toString('base64url'),
  ])('reject %p', (bad) => {
    expect(() => decodePageToken(bad)).toThrow(InvalidPageTokenError);
  });
});
