import { describe, expect, it } from '@jest/globals';
import { callbackOrderingKey, orderingKey, replyOrderingKey } from './ordering-key.js';

describe('ordering keys', () => {
  it('are SHA-256 hex digests, without the identity in clear', () => {
    const key = replyOrderingKey('p', 'a', 'SMS', '46732001122');
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(key).not.toContain('46732001122');
    expect(callbackOrderingKey('01JDQ10ZB6T8D2V3SA4Q0C7M5N', '46732001122')).toMatch(
      /^[0-9a-f]{64}$/,
    );
  });

  it('a reply key is one per project, app, channel and normalised identity', () => {
    const key = replyOrderingKey('p', 'a', 'SMS', '46732001122');
    expect(replyOrderingKey('p', 'a', 'SMS', '+46 73-200 11 22')).toBe(key);
    expect(replyOrderingKey('p', 'a', 'WHATSAPP', '46732001122')).not.toBe(key);
    expect(replyOrderingKey('p', 'b', 'SMS', '46732001122')).not.toBe(key);
    expect(replyOrderingKey('q', 'a', 'SMS', '46732001122')).not.toBe(key);
    expect(replyOrderingKey('p', 'a', 'SMS', '46732001123')).not.toBe(key);
    // Not a phone number, or not a valid identity: used as given.
    expect(replyOrderingKey('p', 'a', 'MESSENGER', 'psid-1')).not.toBe(
      replyOrderingKey('p', 'a', 'MESSENGER', 'psid-2'),
    );
    expect(replyOrderingKey('p', 'a', 'SMS', '')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a callback key is one per subscription and normalised identity', () => {
    const key = callbackOrderingKey('sub-1', '46732001122');
    expect(callbackOrderingKey('sub-1', '+46732001122')).toBe(key);
    expect(callbackOrderingKey('sub-2', '46732001122')).not.toBe(key);
    expect(callbackOrderingKey('sub-1', '46732001199')).not.toBe(key);
  });

  it('parts cannot run into each other, and scopes keep kinds apart', () => {
    expect(orderingKey('s', 'ab', 'c')).not.toBe(orderingKey('s', 'a', 'bc'));
    expect(orderingKey('reply', 'x')).not.toBe(orderingKey('callback', 'x'));
  });
});
