import { describe, expect, it } from '@jest/globals';
import { CheckAnswer, Verdict } from './check-answer.js';
import { ConsentMode, ContentType, Decision, ListType } from './consent-types.js';

const blocked: Verdict = {
  decision: Decision.BLOCK,
  opted_out: true,
  lists: [ListType.OPT_OUT_ALL, ListType.OPT_OUT_MARKETING],
  reason: 'identity is on OPT_OUT_ALL, OPT_OUT_MARKETING, which blocks CONTENT_MARKETING',
};
const allowed: Verdict = {
  decision: Decision.ALLOW,
  opted_out: false,
  lists: [],
  reason: 'no opt-out list applies to CONTENT_MARKETING',
};

const asObject = (a: CheckAnswer) =>
  JSON.stringify({ mode: a.mode, message_content_type: a.contentType, results: a.results });

describe('CheckAnswer', () => {
  it('lists one result per identity, in the order asked, with its verdict', () => {
    const a = new CheckAnswer(
      ConsentMode.PRIMARY,
      ContentType.CONTENT_MARKETING,
      ['2', '1'],
      [allowed, blocked],
    );
    expect(a.results).toEqual([
      { identity: '2', ...allowed },
      { identity: '1', ...blocked },
    ]);
  });

  it('serialises exactly as JSON.stringify of the response object, odd identities included', () => {
    const identities = [
      '46732001122',
      'messenger:"quoted"',
      'back\\slash',
      'ünïcødé-ß',
      'emoji-🙂',
      'line\u2028separator',
    ];
    const verdicts = identities.map((_, i) => (i % 2 ? blocked : allowed));
    const a = new CheckAnswer(
      ConsentMode.SECONDARY,
      ContentType.CONTENT_UNKNOWN,
      identities,
      verdicts,
    );
    expect(a.toJson()).toBe(asObject(a));
    expect(JSON.parse(a.toJson()).results[1].identity).toBe('messenger:"quoted"');
  });

  it('serialises a single result and a large batch the same way as JSON.stringify', () => {
    const one = new CheckAnswer(
      ConsentMode.PRIMARY,
      ContentType.CONTENT_NOTIFICATION,
      ['1'],
      [blocked],
    );
    expect(one.toJson()).toBe(asObject(one));
    const ids = Array.from({ length: 10_000 }, (_, i) => `1555${String(i).padStart(7, '0')}`);
    const many = new CheckAnswer(
      ConsentMode.PRIMARY,
      ContentType.CONTENT_MARKETING,
      ids,
      ids.map((_, i) => (i % 3 ? allowed : blocked)),
    );
    expect(many.toJson()).toBe(asObject(many));
  });

  it('a point-in-time answer says its instant and, per result, the records that decided it', () => {
    const a = new CheckAnswer(
      ConsentMode.SECONDARY,
      ContentType.CONTENT_MARKETING,
      ['1', 'x:"y"', '1'],
      [blocked, allowed, blocked],
      { at: new Date('2026-11-22T10:00:00.5+01:00'), decidedBy: [['7', '12'], [], ['7', '12']] },
    );
    expect(a.toJson()).toBe(JSON.stringify(a.toBody()));
    const body = JSON.parse(a.toJson());
    expect(Object.keys(body)).toEqual(['at', 'mode', 'message_content_type', 'results']);
    expect(body.at).toBe('2026-11-22T09:00:00.500Z');
    expect(body.results.map((r: { decided_by: string[] }) => r.decided_by)).toEqual([
      ['7', '12'],
      [],
      ['7', '12'],
    ]);
    // Without an instant, no decided_by and no at: the ordinary answer, unchanged.
    const plain = new CheckAnswer(
      ConsentMode.PRIMARY,
      ContentType.CONTENT_MARKETING,
      ['1'],
      [blocked],
    );
    expect(plain.toJson()).toBe(asObject(plain));
    expect(plain.toJson()).toBe(JSON.stringify(plain.toBody()));
    expect(JSON.parse(plain.toJson()).results[0]).not.toHaveProperty('decided_by');
  });
});
