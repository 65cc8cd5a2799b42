import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import type { ArgumentMetadata } from '@nestjs/common';
import { ApiError } from '../../common/api-error.js';
import { AppParams } from '../../common/params.dto.js';
import { createValidationPipe } from '../../common/validation.js';
import { CheckRequestDto, MAX_CHECK_IDENTITIES } from './native-consents.dto.js';

/**
 * The hot path's hand-written `fromPlain` against the class-validator rules of the same DTO
 * (the global pipe, as for every other body): one corpus of good and bad bodies, the same
 * verdict, the same failing fields (class-validator names an array, `fromPlain` its items) and,
 * when accepted, the same value.
 */
class CheckByDecorators extends CheckRequestDto {}
class AppParamsByDecorators extends AppParams {}

const pipe = createValidationPipe();

type Verdict = { ok: true; value: Record<string, unknown> } | { ok: false; fields: string[] };

async function verdict(run: () => unknown): Promise<Verdict> {
  try {
    const value = (await run()) as Record<string, unknown>;
    return { ok: true, value: { ...value } };
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    expect(e.httpStatus).toBe(400);
    const details = e.details.flatMap((d) => ('field_violations' in d ? d.field_violations : []));
    const fields = new Set(details.map((v) => v.field.replace(/\[\d+\]$/, '')));
    return { ok: false, fields: [...fields].sort() };
  }
}

function compare(
  hand: (v: unknown) => unknown,
  decorated: new () => unknown,
  type: ArgumentMetadata['type'],
) {
  return async (body: unknown) => {
    const a = await verdict(() => hand(structuredClone(body)));
    const b = await verdict(() =>
      pipe.transform(structuredClone(body), { type, metatype: decorated }),
    );
    expect({ body, verdict: a }).toEqual({ body, verdict: b });
  };
}

/** it.each rows named by the start of the body. */
const rows = (bodies: unknown[]) => bodies.map((b) => [JSON.stringify(b).slice(0, 80), b]);

const many = (n: number) => Array.from({ length: n }, (_, i) => String(46700000000 + i));

describe('CheckRequestDto.fromPlain agrees with its decorators', () => {
  it.each(
    rows([
      { identities: ['46732001122'] },
      { identities: ['+46 73-200 11 22', 'psid-1'], message_content_type: 'CONTENT_MARKETING' },
      { identities: many(MAX_CHECK_IDENTITIES), message_content_type: 'CONTENT_UNKNOWN' },
      { identities: [] },
      { identities: many(MAX_CHECK_IDENTITIES + 1) },
      { identities: 'not-an-array' },
      { identities: { 0: 'x' } },
      { identities: ['ok', 42] },
      { identities: ['ok', null, ['nested']] },
      { identities: ['ok'], message_content_type: 'CONTENT_SPAM' },
      { identities: ['ok'], message_content_type: 7 },
      { message_content_type: 'CONTENT_MARKETING' },
      {},
      { identities: ['ok'], extra: true },
      { identities: ['ok'], constructor: 1 },
      { identities: ['ok'], toString: 'x' },
      { identities: ['ok'], prototype: {} },
      { identities: ['ok'], hasOwnProperty: 1 },
      { identities: 5, message_content_type: 'NOPE', foo: 1 },
      // The point-in-time check's `at`: RFC 3339 with a zone, the rest is the service's to judge.
      { identities: ['ok'], at: '2026-11-22T10:00:00Z' },
      { identities: ['ok'], at: '2026-11-22T10:00:00.123456+02:00' },
      { identities: ['ok'], at: '2026-11-22 10:00:00z' },
      { identities: ['ok'], at: '2999-01-01T00:00:00Z' },
      { identities: ['ok'], at: '1999-12-31T23:59:59Z' },
      { identities: ['ok'], at: '2026-02-30T10:00:00Z' },
      { identities: ['ok'], at: '2026-11-22T10:00:00' },
      { identities: ['ok'], at: '2026-11-22' },
      { identities: ['ok'], at: '2026-11-22T10:00:00+0200' },
      { identities: ['ok'], at: 'yesterday' },
      { identities: ['ok'], at: '' },
      { identities: ['ok'], at: 1764700000000 },
      { identities: ['ok'], at: null },
      { identities: ['ok'], at: ['2026-11-22T10:00:00Z'] },
      { identities: [], at: 'nope', message_content_type: 'NOPE' },
    ]),
  )('%s', (_, body) =>
    compare((v) => CheckRequestDto.fromPlain(v), CheckByDecorators, 'body')(body),
  );
});

describe('AppParams.fromPlain agrees with its decorators', () => {
  it.each(
    rows([
      { project_id: 'c36f3d3d-1523-4edd-ae42-11995557ff61', app_id: '01EB37HMH1M6SV18ABNS3G135H' },
      { project_id: 'p.1_x:y', app_id: 'a' },
      { project_id: 'p', app_id: 'a'.repeat(64) },
      { project_id: 'p', app_id: 'a'.repeat(65) },
      { project_id: 'bad id', app_id: 'a' },
      { project_id: '', app_id: '' },
      { project_id: 'p', app_id: 'a\u0000' },
      { project_id: 'p' },
    ]),
  )('%s', (_, body) =>
    compare((v) => AppParams.fromPlain(v), AppParamsByDecorators, 'param')(body),
  );
});
