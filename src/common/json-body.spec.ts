import { describe, expect, it } from '@jest/globals';
import { ApiError } from './api-error.js';
import { guardJson, MAX_JSON_DEPTH, parseJsonBody, unstorable } from './json-body.js';

function refusal(text: string): { field: string; description: string } | string {
  try {
    parseJsonBody(Buffer.from(text, 'utf8'));
    return 'accepted';
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    const d = e.details[0];
    return d && 'field_violations' in d ? d.field_violations[0]! : e.message;
  }
}

const nest = (n: number) => `${'{"d":'.repeat(n)}1${'}'.repeat(n)}`;

describe('parseJsonBody', () => {
  it('accepts ordinary JSON, escapes included', () => {
    expect(
      parseJsonBody(Buffer.from('{"a":["x","caf\\u00e9","\\ud83d\\ude00"],"b":{"c":null}}')),
    ).toEqual({ a: ['x', 'café', '😀'], b: { c: null } });
    expect(parseJsonBody('[1,2,3]')).toEqual([1, 2, 3]);
  });

  it('refuses malformed JSON', () => {
    expect(refusal('{"a":')).toBe('Malformed JSON in request body.');
  });

  it.each([
    ['{"reason":"a\\u0000b"}', 'reason', /NUL/],
    ['{"e":{"list":[1,{"k":"\\ud800"}]}}', 'e.list[1].k', /lone UTF-16 surrogates/],
    ['{"e":["\\udfff"]}', 'e[0]', /lone UTF-16 surrogates/],
    ['{"e":{"x\\u0000":1}}', 'e.x\ufffd', /property name must not contain NUL/],
    ['{"__proto__":{"admin":true}}', '__proto__', /forbidden/],
    ['{"a":{"constructor":{"prototype":{}}}}', 'a.constructor.prototype', /forbidden/],
  ])('refuses %s naming %s', (text, field, description) => {
    const v = refusal(text);
    expect(v).toMatchObject({ field });
    expect((v as { description: string }).description).toMatch(description);
  });

  it(`accepts ${MAX_JSON_DEPTH} levels of nesting and refuses one more`, () => {
    expect(refusal(nest(MAX_JSON_DEPTH))).toBe('accepted');
    expect(refusal(nest(MAX_JSON_DEPTH + 1))).toMatchObject({ description: /nest deeper/ });
    // Far deeper than any stack: refused, not a RangeError.
    expect(refusal(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toMatchObject({
      field: expect.stringMatching(/^\[0\]/),
    });
  });

  it('keeps a constructor key that is not a prototype path (DTOs refuse it as unknown)', () => {
    expect(refusal('{"constructor":1,"toString":"x"}')).toBe('accepted');
  });
});

describe('unstorable', () => {
  it('tells NUL and lone surrogates from well-formed text', () => {
    expect(unstorable('plain, café, 😀')).toBeNull();
    expect(unstorable('a\u0000')).toMatch(/NUL/);
    expect(unstorable('\ud83d')).toMatch(/surrogate/);
    expect(unstorable('\ude00x')).toMatch(/surrogate/);
    expect(unstorable('\ude00\ud83d')).toMatch(/surrogate/);
  });

  it('guardJson scans strings even without a raw text to look at', () => {
    expect(guardJson({ a: ['ok', 'x\u0000'] })).toMatchObject({ field: 'a[1]' });
    expect(guardJson({ a: ['ok'] })).toBeNull();
  });
});
