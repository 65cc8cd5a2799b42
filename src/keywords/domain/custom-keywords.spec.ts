import { describe, expect, it } from '@jest/globals';
import { ListType } from '../../consent/domain/consent-types.js';
import { buildRuleSet, validateCustomKeyword } from './custom-keywords.js';
import { DEFAULT_KEYWORDS } from './default-keywords.js';
import { KeywordAction, type KeywordRule } from './keyword-types.js';

const { OPT_OUT, OPT_IN, HELP } = KeywordAction;
const ok = { phrase: 'BAJA', action: OPT_OUT, list_type: ListType.OPT_OUT_ALL, language: 'ES' };
const existing = buildRuleSet([]);

describe('validateCustomKeyword', () => {
  it('accepts a valid keyword', () => {
    expect(validateCustomKeyword(ok, existing)).toEqual([]);
  });

  it('accepts a HELP keyword without a list, as null or absent', () => {
    expect(
      validateCustomKeyword(
        { phrase: 'AIDE', action: HELP, list_type: null, language: 'FR' },
        existing,
      ),
    ).toEqual([]);
    expect(
      validateCustomKeyword({ phrase: 'AIDE', action: HELP, language: 'FR' }, existing),
    ).toEqual([]);
  });

  it.each([
    ['', /must not be empty/],
    ['   ', /must not be empty/],
    ['STOP\u0000', /control characters/],
    ['ST\nOP', /control characters/],
    ['\tBAJA', /control characters/],
    ['x'.repeat(101), /at most 100 characters \(got 101\)/],
    ['!!!', /at least one letter or digit/],
    ['🛑', /at least one letter or digit/],
    [42, /must be a string/],
  ])('rejects phrase %j', (phrase, message) => {
    const errors = validateCustomKeyword({ ...ok, phrase }, existing);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
  });

  it('accepts 100 characters, counted in code points after trimming', () => {
    expect(validateCustomKeyword({ ...ok, phrase: ` ${'é'.repeat(100)} ` }, existing)).toEqual([]);
    expect(validateCustomKeyword({ ...ok, phrase: 'a'.repeat(98) + '🛑' }, existing)).toEqual([]);
  });

  it('rejects an unknown action', () => {
    expect(validateCustomKeyword({ ...ok, action: 'DELETE' }, existing)).toEqual([
      'action must be one of OPT_OUT, OPT_IN, HELP',
    ]);
  });

  it.each([undefined, null, 'OPT_IN_ALL'])('rejects an opt-out with list_type %j', (list_type) => {
    expect(validateCustomKeyword({ ...ok, list_type }, existing)).toEqual([
      'list_type is required for OPT_OUT: one of OPT_OUT_ALL, OPT_OUT_MARKETING, OPT_OUT_NOTIFICATION',
    ]);
  });

  it('rejects HELP with a list_type', () => {
    expect(
      validateCustomKeyword({ ...ok, phrase: 'AIDE', action: HELP, language: 'FR' }, existing),
    ).toEqual(['list_type must be null for HELP']);
  });

  it.each(['es', 'ESP', 'E', '', 'E1', 7])('rejects language %j', (language) => {
    expect(validateCustomKeyword({ ...ok, language }, existing)).toEqual([
      'language must be a two-letter upper-case ISO 639-1 code, such as EN',
    ]);
  });

  it('reports several violations at once', () => {
    expect(
      validateCustomKeyword({ phrase: '', action: 'X', list_type: null, language: 'x' }, existing),
    ).toHaveLength(3);
  });

  it('rejects the default STOP as OPT_IN, naming the clashing rule', () => {
    expect(
      validateCustomKeyword({ ...ok, phrase: 'stop', action: OPT_IN, language: 'EN' }, existing),
    ).toEqual([
      'phrase "stop" clashes with DEFAULT keyword "STOP" (OPT_OUT OPT_OUT_ALL, EN): a phrase cannot mean two things',
    ]);
  });

  it('rejects STOP on another list, and clashes found only in the loose form', () => {
    expect(
      validateCustomKeyword(
        { ...ok, phrase: 'Stop!', list_type: ListType.OPT_OUT_MARKETING },
        existing,
      ),
    ).toEqual([
      'phrase "Stop!" clashes with DEFAULT keyword "STOP" (OPT_OUT OPT_OUT_ALL, EN): a phrase cannot mean two things',
    ]);
    const errors = validateCustomKeyword(
      {
        ...ok,
        phrase: 'volver notificacion',
        action: OPT_OUT,
        list_type: ListType.OPT_OUT_NOTIFICATION,
      },
      existing,
    );
    expect(errors).toEqual([
      'phrase "volver notificacion" clashes with DEFAULT keyword "VOLVER NOTIFICACIÓN" (OPT_IN OPT_OUT_NOTIFICATION, ES): a phrase cannot mean two things',
    ]);
  });

  it('rejects a HELP word as an opt-out', () => {
    expect(validateCustomKeyword({ ...ok, phrase: 'info' }, existing)[0]).toMatch(
      /clashes with DEFAULT keyword "INFO" \(HELP, EN\)/,
    );
  });

  it('rejects an exact duplicate (case-insensitive), of a default or a custom rule', () => {
    expect(validateCustomKeyword({ ...ok, phrase: ' stop ', language: 'EN' }, existing)).toEqual([
      'phrase "stop" duplicates DEFAULT keyword "STOP" (OPT_OUT OPT_OUT_ALL, EN)',
    ]);
    const custom: KeywordRule = { ...ok, source: 'CUSTOM' };
    expect(validateCustomKeyword({ ...ok, phrase: 'baja' }, buildRuleSet([custom]))).toEqual([
      'phrase "baja" duplicates CUSTOM keyword "BAJA" (OPT_OUT OPT_OUT_ALL, ES)',
    ]);
    expect(
      validateCustomKeyword({ ...ok, phrase: 'AYUDA', action: HELP, list_type: null }, existing),
    ).toEqual(['phrase "AYUDA" duplicates DEFAULT keyword "AYUDA" (HELP, ES)']);
  });

  it('allows a punctuation/accent variant with the same meaning (adds a SINCH_EXACT variant)', () => {
    expect(validateCustomKeyword({ ...ok, phrase: 'Stop.', language: 'EN' }, existing)).toEqual([]);
    expect(
      validateCustomKeyword(
        { ...ok, phrase: 'DETENER NOTIFICACION', list_type: ListType.OPT_OUT_NOTIFICATION },
        existing,
      ),
    ).toEqual([]);
  });

  it('allows an FCC per-se word only as an opt-out of everything', () => {
    expect(validateCustomKeyword({ ...ok, phrase: 'QUIT', language: 'EN' }, existing)).toEqual([]);
    expect(validateCustomKeyword({ ...ok, phrase: 'opt-out', language: 'EN' }, existing)).toEqual(
      [],
    );
    expect(
      validateCustomKeyword({ ...ok, phrase: 'End', action: OPT_IN, language: 'EN' }, existing),
    ).toEqual([
      'phrase "End" is an FCC per-se revocation word; it can only be OPT_OUT of OPT_OUT_ALL',
    ]);
    expect(
      validateCustomKeyword(
        { ...ok, phrase: 'cancel', list_type: ListType.OPT_OUT_MARKETING, language: 'EN' },
        existing,
      ),
    ).toHaveLength(1);
    expect(
      validateCustomKeyword(
        { phrase: 'Revoke', action: HELP, list_type: null, language: 'EN' },
        existing,
      ),
    ).toHaveLength(1);
  });
});

describe('buildRuleSet', () => {
  it('puts the defaults first, then the custom rules', () => {
    const custom: KeywordRule = { ...ok, source: 'CUSTOM' };
    const set = buildRuleSet([custom]);
    expect(set).toEqual([...DEFAULT_KEYWORDS, custom]);
    expect(buildRuleSet([])).toEqual(DEFAULT_KEYWORDS);
  });
});
