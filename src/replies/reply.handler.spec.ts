import { describe, expect, it } from '@jest/globals';
import { safeJobError } from './reply-payload.js';
import { leaseMs } from './reply.handler.js';

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
