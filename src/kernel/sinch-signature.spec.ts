import { describe, expect, it } from '@jest/globals';
import { calculateWebhookSignature, computeSignedData } from '@sinch/sdk-core';
import { computeSignature, verifySignature } from './sinch-signature.js';

// The test vector of the official Node SDK (packages/sdk-client/tests/utils/authorization.helper.test.ts).
const VECTOR = {
  secret: 'foo_secret1234',
  nonce: '01FJA8B4A7BM43YGWSG9GBV067',
  timestamp: '1634579353',
  body: '{"app_id":"","accepted_time":"2021-10-18T17:49:13.813615Z","project_id":"e2df3a34-a71b-4448-9db5-a8d2baad28e4","contact_create_notification":{"contact":{"id":"01FJA8B466Y0R2GNXD78MD9SM1","channel_identities":[{"channel":"SMS","identity":"48123456789","app_id":""}],"display_name":"New Test Contact","email":"new.contact@email.com","external_id":"","metadata":"","language":"EN_US"}},"message_metadata":""}',
  signature: '6bpJoRmFoXVjfJIVglMoJzYXxnoxRujzR4k2GOXewOE=',
};
const at = Number(VECTOR.timestamp) * 1000;

describe('webhook signatures', () => {
  it('reproduce the SDK test vector', () => {
    expect(
      computeSignature(VECTOR.secret, Buffer.from(VECTOR.body), VECTOR.nonce, VECTOR.timestamp),
    ).toBe(VECTOR.signature);
    const verdict = verifySignature(
      [VECTOR.secret],
      { signature: VECTOR.signature, nonce: VECTOR.nonce, timestamp: VECTOR.timestamp },
      Buffer.from(VECTOR.body),
      at,
      300,
    );
    expect(verdict).toEqual({ ok: true, nonce: VECTOR.nonce });
  });

  it('agree with the official SDK helper on other bodies, including non-ASCII ones', () => {
    const body = '{"message":{"contact_message":{"text_message":{"text":"NOTIFICAÇÃO 🛑"}}}}';
    const sdk = calculateWebhookSignature(
      computeSignedData(body, 'n1', '1700000000'),
      's3cret-ünï',
    );
    expect(computeSignature('s3cret-ünï', Buffer.from(body, 'utf8'), 'n1', '1700000000')).toBe(sdk);
  });

  it('accept either secret during rotation', () => {
    const headers = {
      signature: VECTOR.signature,
      nonce: VECTOR.nonce,
      timestamp: VECTOR.timestamp,
    };
    expect(
      verifySignature(['new-secret-1', VECTOR.secret], headers, Buffer.from(VECTOR.body), at, 300)
        .ok,
    ).toBe(true);
  });

  it.each([
    ['a tampered body', { body: VECTOR.body.replace('New Test', 'Old Test') }, 'BAD_SIGNATURE'],
    ['a wrong secret', { secrets: ['other-secret'] }, 'BAD_SIGNATURE'],
    ['a garbage signature', { signature: 'not base64!' }, 'BAD_SIGNATURE'],
    ['a missing nonce', { nonce: '' }, 'MISSING_HEADERS'],
    ['a missing signature', { signature: undefined }, 'MISSING_HEADERS'],
    ['a non-numeric timestamp', { timestamp: '2021-10-18T17:49:13Z' }, 'BAD_TIMESTAMP'],
    ['a timestamp 6 minutes old', { now: at + 360_000 }, 'STALE_TIMESTAMP'],
    ['a timestamp 6 minutes ahead', { now: at - 360_000 }, 'STALE_TIMESTAMP'],
  ] as const)('refuse %s', (_, change, reason) => {
    const c = change as Partial<{
      body: string;
      secrets: string[];
      signature?: string;
      nonce: string;
      timestamp: string;
      now: number;
    }>;
    const verdict = verifySignature(
      c.secrets ?? [VECTOR.secret],
      {
        signature: 'signature' in c ? c.signature : VECTOR.signature,
        nonce: c.nonce ?? VECTOR.nonce,
        timestamp: c.timestamp ?? VECTOR.timestamp,
      },
      Buffer.from(c.body ?? VECTOR.body),
      c.now ?? at,
      300,
    );
    expect(verdict).toEqual({ ok: false, reason });
  });
});
