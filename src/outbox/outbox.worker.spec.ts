import { describe, expect, it } from '@jest/globals';
import { leaseMs, replyAudit, replyRetryDelayMs, safeJobError } from './outbox.worker.js';

describe('replyRetryDelayMs', () => {
  const mid = () => 0.5; // no jitter

  it('doubles from the base per attempt, up to the maximum', () => {
    expect([1, 2, 3, 4, 5].map((n) => replyRetryDelayMs(n, 5000, 600_000, mid))).toEqual([
      5000, 10_000, 20_000, 40_000, 80_000,
    ]);
    expect(replyRetryDelayMs(8, 5000, 600_000, mid)).toBe(600_000);
    expect(replyRetryDelayMs(5000, 5000, 600_000, mid)).toBe(600_000);
  });

  it('jitters by at most 10 %', () => {
    expect(replyRetryDelayMs(1, 1000, 600_000, () => 0)).toBe(900);
    expect(replyRetryDelayMs(1, 1000, 600_000, () => 0.999999)).toBe(1100);
  });
});

describe('leaseMs', () => {
  it('covers four Sinch requests plus a margin', () => {
    expect(leaseMs(10_000)).toBe(70_000);
  });
});

describe('safeJobError', () => {
  it('removes the text and the identity, and fits in last_error', () => {
    const out = safeJobError('HTTP 400: bad "Hello there" for 46732001122', {
      text: 'Hello there',
      identity: '46732001122',
    });
    expect(out).toBe('HTTP 400: bad "[redacted]" for [redacted]');
    expect(safeJobError('x'.repeat(900), { text: 'abcd', identity: 'efgh' })).toHaveLength(500);
  });
});

describe('replyAudit', () => {
  const payload = {
    channel: 'SMS',
    identity: '+46 73-200 11 22',
    normalized_identity: '46732001122',
    list_type: 'OPT_OUT_ALL',
    text: 'You will get no more messages.',
    inbound_message_id: 'in-1',
    action: 'OPT_OUT',
    language: 'EN',
  };

  it('files a sent reply under the normalised identity, with its list and without its text', () => {
    const audit = replyAudit({ id: '7', payload, attempts: 2 }, { sinchMessageId: 'm-1' });
    expect(audit).toEqual({
      identity: '46732001122',
      listType: 'OPT_OUT_ALL',
      reason: 'confirmation reply (OPT_OUT) accepted by Sinch',
      evidence: {
        reply_job_id: '7',
        inbound_message_id: 'in-1',
        action: 'OPT_OUT',
        language: 'EN',
        channel: 'SMS',
        attempts: 2,
        sinch_message_id: 'm-1',
      },
    });
    expect(JSON.stringify(audit)).not.toContain(payload.text);
  });

  it("normalises Sinch's identity of older jobs; no identity, no record", () => {
    const { normalized_identity: _, list_type: __, ...older } = payload;
    const audit = replyAudit({ id: '8', payload: older, attempts: 1 }, { lastError: 'HTTP 400' });
    expect(audit).toMatchObject({
      identity: '46732001122',
      listType: null,
      evidence: { last_error: 'HTTP 400' },
    });
    expect(audit!.evidence).not.toHaveProperty('sinch_message_id');
    expect(
      replyAudit({ id: '9', payload: { channel: 'SMS' }, attempts: 1 }, { lastError: 'x' }),
    ).toBeNull();
    expect(replyAudit({ id: '9', payload: null, attempts: 1 }, { lastError: 'x' })).toBeNull();
    expect(
      replyAudit(
        { id: '9', payload: { ...payload, list_type: 'BOGUS' }, attempts: 1 },
        { lastError: 'x' },
      )!.listType,
    ).toBeNull();
  });
});
