import { describe, expect, it } from '@jest/globals';
import { CHAIN_COLUMNS } from './audit-chain.repository.js';
import { parseChainLine } from './audit-verify.service.js';
import { canonicalEncoding } from './domain/audit-chain.js';

const app = { projectId: 'p1', appId: 'a1' };

/** COPY text format of one value: \N for null, backslash escapes (as PostgreSQL writes them). */
function copyText(v: string | null): string {
  if (v === null) return '\\N';
  return v.replace(/[\\\t\n\r\b\f\v]/g, (c) =>
    c === '\\'
      ? '\\\\'
      : c === '\t'
        ? '\\t'
        : c === '\n'
          ? '\\n'
          : c === '\r'
            ? '\\r'
            : c === '\b'
              ? '\\b'
              : c === '\f'
                ? '\\f'
                : '\\v',
  );
}

/** A chain COPY line whose free-text fields (actor, batch, import, source) are `texts`. */
function line(texts: (string | null)[]): string {
  const [actor, batch, importId, source] = texts;
  const values: (string | null)[] = [
    '7',
    '1234',
    'CONSENT_CHANGE',
    'ab'.repeat(32),
    'OPT_OUT_ALL',
    'ORIGIN_API',
    'OPERATION_INSERT',
    'APPLIED',
    actor ?? 'key:x',
    'cd'.repeat(32),
    null,
    batch ?? null,
    '1767322800000000',
    '1767322800123456',
    null,
    importId ?? null,
    source ?? null,
    't',
    '00'.repeat(32),
    'ef'.repeat(32),
  ];
  expect(values).toHaveLength(CHAIN_COLUMNS.length);
  return values.map(copyText).join('\t');
}

describe('parseChainLine', () => {
  // The fast path (a line with no escape but \N, and nothing to escape in JSON) must render the
  // same encoding as the field-by-field path, which the e2e property test ties to the database.
  const cases: (string | null)[][] = [
    [null, null, null, null],
    ['key:abc', 'batch-1', '01ABC', 'crm'],
    ['a "quoted" actor', null, null, null],
    ['back\\slash', null, null, 'src'],
    ['ends with backslash N \\N', null, null, null],
    ['\\N', null, null, null],
    ['tab\there', 'new\nline', 'cr\rhere', 'bell\u0007'],
    ['emoji 🎉 and é', null, null, 'ü'],
    ['control \u0001 char', null, null, null],
  ];
  it.each(cases)('renders the same encoding on every path (%#)', (...texts) => {
    const parsed = parseChainLine(app, line(texts));
    const expected = canonicalEncoding({ ...parsed.fields }, false);
    expect(parsed.encoding).toBe(expected);
    expect(parsed.fields.actor).toBe(texts[0] ?? 'key:x');
    expect(parsed.fields.batch_id).toBe(texts[1] ?? null);
    expect(parsed.fields.import_id).toBe(texts[2] ?? null);
    expect(parsed.fields.source).toBe(texts[3] ?? null);
    expect(parsed.fields.evidence_sha256).toBeNull();
    expect(JSON.parse(parsed.encoding)).toHaveLength(20);
  });

  it('escapes app ids that need it, even on a plain line', () => {
    for (const odd of [
      { projectId: 'p"1', appId: 'a1' },
      { projectId: 'p1', appId: 'a\\N' },
    ]) {
      const parsed = parseChainLine(odd, line([null, null, null, null]));
      expect(JSON.parse(parsed.encoding).slice(4, 6)).toEqual([odd.projectId, odd.appId]);
    }
  });
});
