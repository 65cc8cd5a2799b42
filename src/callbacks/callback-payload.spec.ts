import { describe, expect, it } from '@jest/globals';
import { ConversationCallbackWebhooks, validateWebhookSignature } from '@sinch/sdk-core';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../config/app-config.js';
import { ListType, Origin } from '../consent/domain/consent-types.js';
import {
  buildCallbackBody,
  classifyStatus,
  describeNetworkError,
  sendCallback,
  signedHeaders,
  sortTriggers,
  targetUrlProblem,
} from './callback-payload.js';
import { CallbackTrigger } from './callback-events.js';
import { callbackLeaseMs } from './callback.handler.js';

const app = { projectId: 'proj-1', appId: 'app-1' };
const meta = {
  eventId: '01JDQ10ZB6T8D2V3SA4Q0C7M5N',
  sequence: 42,
  acceptedTime: new Date('2026-11-22T10:00:01.000Z'),
};

describe('buildCallbackBody', () => {
  it('puts an opt-out in Sinch’s envelope with our extra fields', () => {
    const body = buildCallbackBody(
      app,
      {
        trigger: 'OPT_OUT',
        identity: '46732001122',
        listType: ListType.OPT_OUT_MARKETING,
        origin: Origin.ORIGIN_MO,
        auditRecordId: '17',
        eventTime: new Date('2026-11-22T10:00:00.000Z'),
        channel: 'SMS',
        contactId: null,
      },
      meta,
    );
    expect(JSON.parse(body)).toEqual({
      app_id: 'app-1',
      project_id: 'proj-1',
      accepted_time: '2026-11-22T10:00:01.000Z',
      event_time: '2026-11-22T10:00:00.000Z',
      message_metadata: '',
      correlation_id: '',
      opt_out_notification: {
        contact_id: '',
        channel: 'SMS',
        identity: '46732001122',
        status: 'OPT_OUT_SUCCEEDED',
        request_id: meta.eventId,
        processing_mode: 'DISPATCH',
        list_type: 'OPT_OUT_MARKETING',
        origin: 'ORIGIN_MO',
        audit_record_id: '17',
        sequence: 42,
      },
    });
    expect(ConversationCallbackWebhooks.parseEvent(body).trigger).toBe('OPT_OUT');
  });

  it('an opt-in without a channel says CHANNEL_UNSPECIFIED', () => {
    const body = JSON.parse(
      buildCallbackBody(
        app,
        {
          trigger: 'OPT_IN',
          identity: 'psid-1',
          listType: ListType.OPT_OUT_ALL,
          origin: Origin.ORIGIN_API,
          auditRecordId: '18',
          eventTime: new Date('2026-11-22T10:00:00.000Z'),
        },
        meta,
      ),
    );
    expect(body.opt_in_notification).toMatchObject({
      channel: 'CHANNEL_UNSPECIFIED',
      status: 'OPT_IN_SUCCEEDED',
      contact_id: '',
    });
    expect(body).not.toHaveProperty('opt_out_notification');
    expect(ConversationCallbackWebhooks.parseEvent(body).trigger).toBe('OPT_IN');
  });

  it('puts a send event under consent_gate_send_notification', () => {
    const body = JSON.parse(
      buildCallbackBody(
        app,
        {
          trigger: 'SENT_TO_OPTED_OUT',
          identity: '46732001122',
          channel: null,
          lists: [ListType.OPT_OUT_ALL],
          messageContentType: 'CONTENT_UNKNOWN',
          sendAttemptId: '9',
          eventTime: new Date('2026-11-22T10:00:00.000Z'),
        },
        meta,
      ),
    );
    expect(body.correlation_id).toBe('');
    expect(body.consent_gate_send_notification).toEqual({
      type: 'SENT_TO_OPTED_OUT',
      identity: '46732001122',
      channel: 'CHANNEL_UNSPECIFIED',
      lists: ['OPT_OUT_ALL'],
      message_content_type: 'CONTENT_UNKNOWN',
      send_attempt_id: '9',
      correlation_id: '',
      sequence: 42,
      event_id: meta.eventId,
    });
  });
});

describe('signedHeaders', () => {
  it('signs as Sinch does: the SDK validator accepts it', () => {
    const body = '{"app_id":"a","opt_out_notification":{"identity":"1"}}';
    const headers = signedHeaders('the-secret', body, 1_800_000_000_123, 'nonce-1');
    expect(headers).toMatchObject({
      'content-type': 'application/json',
      'x-sinch-webhook-signature-nonce': 'nonce-1',
      'x-sinch-webhook-signature-timestamp': '1800000000',
      'x-sinch-webhook-signature-algorithm': 'HmacSHA256',
    });
    expect(validateWebhookSignature('the-secret', headers, body)).toBe(true);
    expect(validateWebhookSignature('other-secret', headers, body)).toBe(false);
  });

  it('uses a fresh nonce each time', () => {
    const a = signedHeaders('s3cret-value', '{}');
    const b = signedHeaders('s3cret-value', '{}');
    expect(a['x-sinch-webhook-signature-nonce']).not.toBe(b['x-sinch-webhook-signature-nonce']);
  });
});

describe('targetUrlProblem', () => {
  it.each([
    'https://crm.example.com/hooks/consent',
    'http://127.0.0.1:8080/x?token=abc',
    'https://[::1]/x',
  ])('accepts %s', (url) => expect(targetUrlProblem(url)).toBeNull());

  it.each([
    ['ftp://example.com/x', 'must be an http or https URL'],
    ['javascript:alert(1)', 'must be an http or https URL'],
    ['example.com/x', 'must be an absolute http or https URL'],
    ['', 'must not be empty'],
    ['https://u:p@example.com/', 'must not contain credentials (user:password@)'],
    [`https://example.com/${'a'.repeat(2040)}`, 'must be at most 2048 characters'],
    [42, 'must be a string'],
  ])('refuses %s', (url, problem) => expect(targetUrlProblem(url)).toBe(problem));
});

describe('classifyStatus', () => {
  it('2xx succeeds, 429 and 5xx retry, the rest gives up', () => {
    expect([200, 201, 204, 299].map(classifyStatus)).toEqual(Array(4).fill('SUCCEEDED'));
    expect([429, 500, 502, 503, 504].map(classifyStatus)).toEqual(Array(5).fill('RETRY'));
    expect([301, 302, 400, 401, 403, 404, 410, 422].map(classifyStatus)).toEqual(
      Array(8).fill('GIVE_UP'),
    );
  });
});

describe('describeNetworkError', () => {
  it('names timeouts and error codes, never the address', () => {
    expect(describeNetworkError(new DOMException('x', 'TimeoutError'), 500)).toBe(
      'timeout after 500 ms',
    );
    const refused = Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), {
        code: 'ECONNREFUSED',
      }),
    });
    expect(describeNetworkError(refused, 500)).toBe(
      'network error: connection refused (ECONNREFUSED)',
    );
    const dns = Object.assign(new TypeError('fetch failed'), {
      cause: { code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND secret-host.example' },
    });
    expect(describeNetworkError(dns, 500)).toBe('network error (ENOTFOUND)');
    expect(describeNetworkError(new TypeError('fetch failed'), 500)).toBe('network error');
  });
});

describe('sendCallback', () => {
  it('posts the body and headers, and classifies the answer', async () => {
    const seen: { body: string; headers: Record<string, unknown> }[] = [];
    let status = 204;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ body: Buffer.concat(chunks).toString(), headers: req.headers });
        res.writeHead(
          status,
          status === 302
            ? { location: 'http://example.com/' }
            : status === 429 || status === 500
              ? { 'retry-after': '3' }
              : {},
        );
        res.end('x'.repeat(10_000));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/in`;
    try {
      const headers = signedHeaders('secret-123', '{"a":1}');
      expect(await sendCallback(url, headers, '{"a":1}', 2000)).toMatchObject({
        ok: true,
        status: 204,
      });
      expect(seen[0]!.body).toBe('{"a":1}');
      expect(seen[0]!.headers['x-sinch-webhook-signature']).toBe(
        headers['x-sinch-webhook-signature'],
      );
      status = 503;
      expect(await sendCallback(url, headers, '{}', 2000)).toMatchObject({
        ok: false,
        retryable: true,
        status: 503,
        error: 'HTTP 503 (retryable)',
      });
      status = 429;
      expect(await sendCallback(url, headers, '{}', 2000)).toMatchObject({
        ok: false,
        retryable: true,
        status: 429,
        error: 'HTTP 429 (retryable)',
        retryAfterMs: 3000,
      });
      // Retry-After counts on 429 and 503 only.
      status = 500;
      expect(await sendCallback(url, headers, '{}', 2000)).not.toHaveProperty('retryAfterMs');
      status = 404;
      expect(await sendCallback(url, headers, '{}', 2000)).toMatchObject({
        ok: false,
        retryable: false,
        status: 404,
      });
      status = 302;
      expect(await sendCallback(url, headers, '{}', 2000)).toMatchObject({
        ok: false,
        retryable: false,
        status: 302,
        error: 'HTTP 302 (redirect not followed)',
      });
      expect(seen).toHaveLength(6);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('times out on a target that never answers', async () => {
    const server = createServer(() => undefined);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const started = Date.now();
      const result = await sendCallback(url, {}, '{}', 200);
      expect(result).toMatchObject({
        ok: false,
        retryable: true,
        status: null,
        error: 'timeout after 200 ms',
      });
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('callbackLeaseMs', () => {
  it('leases one attempt plus a margin', () => {
    expect(callbackLeaseMs(10_000)).toBe(40_000);
  });
});

describe('configuration', () => {
  it('has the documented defaults and validates the callback settings', () => {
    expect(loadConfig({})).toMatchObject({
      CALLBACK_RETRY_BASE_MS: 5000,
      CALLBACK_RETRY_MAX_MS: 3_600_000,
      CALLBACK_GIVE_UP_AFTER_S: 86_400,
      CALLBACK_TIMEOUT_MS: 10_000,
    });
    expect(loadConfig({ CALLBACK_TIMEOUT_MS: '2500' }).CALLBACK_TIMEOUT_MS).toBe(2500);
    expect(() => loadConfig({ CALLBACK_TIMEOUT_MS: 'soon' })).toThrow(/CALLBACK_TIMEOUT_MS/);
    expect(() => loadConfig({ CALLBACK_GIVE_UP_AFTER_S: '0' })).toThrow(/CALLBACK_GIVE_UP_AFTER_S/);
  });
});

describe('sortTriggers', () => {
  it('orders triggers canonically', () => {
    expect(
      sortTriggers([
        CallbackTrigger.SENT_TO_OPTED_OUT,
        CallbackTrigger.OPT_OUT,
        CallbackTrigger.OPT_IN,
      ]),
    ).toEqual(['OPT_IN', 'OPT_OUT', 'SENT_TO_OPTED_OUT']);
  });
});
