import { describe, expect, it } from '@jest/globals';
import { validateRow } from './import-row.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');

describe('validateRow', () => {
  it('normalises and defaults like the API', () => {
    expect(
      validateRow(
        { identity: ' +46 73-200 11 22 ', list_type: 'OPT_OUT_ALL', action: '', reason: '' },
        7,
        NOW,
      ),
    ).toEqual({
      line: 7,
      identity: '46732001122',
      listType: 'OPT_OUT_ALL',
      optedOut: true,
      eventTime: null,
      reason: null,
      source: null,
    });
    expect(
      validateRow(
        {
          identity: 'psid-1',
          list_type: 'OPT_OUT_MARKETING',
          action: 'OPT_IN',
          opted_out_since: '2025-06-01T10:00:00+02:00',
          source: 'twilio',
          origin: 'ORIGIN_MO',
          audit_record_id: '12',
        },
        2,
        NOW,
      ),
    ).toMatchObject({
      identity: 'psid-1',
      optedOut: false,
      eventTime: new Date('2025-06-01T08:00:00Z'),
      source: 'twilio',
    });
  });

  it('names the field and never the value', () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ list_type: 'OPT_OUT_ALL' }, 'identity', 'is required'],
      [
        { identity: 'a\u0001b', list_type: 'OPT_OUT_ALL' },
        'identity',
        'identity must not contain control characters',
      ],
      [
        { identity: '1', list_type: 'NOPE' },
        'list_type',
        'must be one of OPT_OUT_ALL, OPT_OUT_MARKETING, OPT_OUT_NOTIFICATION',
      ],
      [
        { identity: '1', list_type: 'OPT_OUT_ALL', action: 'STOP' },
        'action',
        'must be OPT_OUT or OPT_IN',
      ],
      [
        { identity: '1', list_type: 'OPT_OUT_ALL', event_time: 'yesterday' },
        'event_time',
        'must be an ISO-8601 date-time',
      ],
      [
        { identity: '1', list_type: 'OPT_OUT_ALL', event_time: '2026-01-01T12:06:00Z' },
        'event_time',
        'must not be more than 5 minutes in the future',
      ],
      [
        { identity: '1', list_type: 'OPT_OUT_ALL', event_time: '1999-12-31T23:00:00Z' },
        'event_time',
        'must be after the year 2000',
      ],
      [
        { identity: '1', list_type: 'OPT_OUT_ALL', opted_out_since: 5 },
        'opted_out_since',
        'must be a string',
      ],
      [
        { identity: '1', list_type: 'OPT_OUT_ALL', reason: 'x'.repeat(501) },
        'reason',
        'must be at most 500 characters',
      ],
      [
        { identity: '1', list_type: 'OPT_OUT_ALL', source: 's'.repeat(129) },
        'source',
        'must be at most 128 characters',
      ],
      [
        { identity: '1', list_type: 'OPT_OUT_ALL', reason: 'a\u0000b' },
        'reason',
        'must not contain NUL characters',
      ],
      [
        { identity: '1', list_type: 'OPT_OUT_ALL', source: '\ud800' },
        'source',
        'must not contain lone UTF-16 surrogates',
      ],
      [
        { identity: '1', list_type: 'OPT_OUT_ALL', colour: 'red' },
        'colour',
        'is not a known field',
      ],
    ];
    for (const [raw, field, description] of cases) {
      expect(validateRow(raw, 3, NOW)).toEqual({ line: 3, field, description });
    }
    // A closer future time is accepted (applyChanges clamps it to its arrival).
    expect(
      validateRow(
        { identity: '1', list_type: 'OPT_OUT_ALL', event_time: '2026-01-01T12:04:00Z' },
        3,
        NOW,
      ),
    ).toMatchObject({ eventTime: new Date('2026-01-01T12:04:00Z') });
  });
});
