import { describe, expect, it } from '@jest/globals';
import { ListType } from '../../consent/domain/consent-types.js';
import { buildRuleSet } from './custom-keywords.js';
import { DEFAULT_KEYWORDS } from './default-keywords.js';
import { KeywordMatcher } from './keyword-matcher.js';
import { KeywordAction, type KeywordRule, MatchingProfile } from './keyword-types.js';
import { normalizeLoose } from './normalize.js';

const { OPT_OUT, OPT_IN, HELP } = KeywordAction;
const { OPT_OUT_ALL: ALL, OPT_OUT_MARKETING: MKT, OPT_OUT_NOTIFICATION: NOTIF } = ListType;
const { SINCH_EXACT, US_FCC } = MatchingProfile;

type Row = [phrase: string, action: KeywordAction, list: ListType | null, language: string];

/** Written out by hand from sinch.md §2.4 (and our PT completion and HELP words), on purpose. */
const EXPECTED_DEFAULTS: Row[] = [
  ['STOP', OPT_OUT, ALL, 'EN'],
  ['UNSUBSCRIBE', OPT_OUT, ALL, 'EN'],
  ['OptOut_All_EN', OPT_OUT, ALL, 'EN'],
  ['START', OPT_IN, ALL, 'EN'],
  ['SUBSCRIBE', OPT_IN, ALL, 'EN'],
  ['OptIn_All_EN', OPT_IN, ALL, 'EN'],
  ['STOP MARKETING', OPT_OUT, MKT, 'EN'],
  ['UNSUBSCRIBE MARKETING', OPT_OUT, MKT, 'EN'],
  ['OptOut_Marketing_EN', OPT_OUT, MKT, 'EN'],
  ['START MARKETING', OPT_IN, MKT, 'EN'],
  ['SUBSCRIBE MARKETING', OPT_IN, MKT, 'EN'],
  ['OptIn_Marketing_EN', OPT_IN, MKT, 'EN'],
  ['STOP NOTIFICATION', OPT_OUT, NOTIF, 'EN'],
  ['UNSUBSCRIBE NOTIFICATION', OPT_OUT, NOTIF, 'EN'],
  ['OptOut_Notification_EN', OPT_OUT, NOTIF, 'EN'],
  ['START NOTIFICATION', OPT_IN, NOTIF, 'EN'],
  ['SUBSCRIBE NOTIFICATION', OPT_IN, NOTIF, 'EN'],
  ['OptIn_Notification_EN', OPT_IN, NOTIF, 'EN'],

  ['DETENER', OPT_OUT, ALL, 'ES'],
  ['SALIR', OPT_OUT, ALL, 'ES'],
  ['OptOut_All_ES', OPT_OUT, ALL, 'ES'],
  ['VOLVER', OPT_IN, ALL, 'ES'],
  ['RECIBIR', OPT_IN, ALL, 'ES'],
  ['OptIn_All_ES', OPT_IN, ALL, 'ES'],
  ['DETENER MARKETING', OPT_OUT, MKT, 'ES'],
  ['SALIR MARKETING', OPT_OUT, MKT, 'ES'],
  ['OptOut_Marketing_ES', OPT_OUT, MKT, 'ES'],
  ['VOLVER MARKETING', OPT_IN, MKT, 'ES'],
  ['RECIBIR MARKETING', OPT_IN, MKT, 'ES'],
  ['OptIn_Marketing_ES', OPT_IN, MKT, 'ES'],
  ['DETENER NOTIFICACIÓN', OPT_OUT, NOTIF, 'ES'],
  ['SALIR NOTIFICACIÓN', OPT_OUT, NOTIF, 'ES'],
  ['OptOut_Notification_ES', OPT_OUT, NOTIF, 'ES'],
  ['VOLVER NOTIFICACIÓN', OPT_IN, NOTIF, 'ES'],
  ['RECIBIR NOTIFICACIÓN', OPT_IN, NOTIF, 'ES'],
  ['OptIn_Notification_ES', OPT_IN, NOTIF, 'ES'],

  ['PARAR', OPT_OUT, ALL, 'PT'],
  ['CANCELAR', OPT_OUT, ALL, 'PT'],
  ['OptOut_All_PT', OPT_OUT, ALL, 'PT'],
  ['VOLTAR', OPT_IN, ALL, 'PT'],
  ['RECEBER', OPT_IN, ALL, 'PT'],
  ['OptIn_All_PT', OPT_IN, ALL, 'PT'],
  ['PARAR MARKETING', OPT_OUT, MKT, 'PT'],
  ['CANCELAR MARKETING', OPT_OUT, MKT, 'PT'],
  ['OptOut_Marketing_PT', OPT_OUT, MKT, 'PT'],
  ['VOLTAR MARKETING', OPT_IN, MKT, 'PT'],
  ['RECEBER MARKETING', OPT_IN, MKT, 'PT'],
  ['OptIn_Marketing_PT', OPT_IN, MKT, 'PT'],
  ['PARAR NOTIFICAÇÃO', OPT_OUT, NOTIF, 'PT'],
  ['CANCELAR NOTIFICAÇÃO', OPT_OUT, NOTIF, 'PT'],
  ['OptOut_Notification_PT', OPT_OUT, NOTIF, 'PT'],
  ['VOLTAR NOTIFICAÇÃO', OPT_IN, NOTIF, 'PT'],
  ['RECEBER NOTIFICAÇÃO', OPT_IN, NOTIF, 'PT'],
  ['OptIn_Notification_PT', OPT_IN, NOTIF, 'PT'],

  ['HELP', HELP, null, 'EN'],
  ['INFO', HELP, null, 'EN'],
  ['AYUDA', HELP, null, 'ES'],
  ['AJUDA', HELP, null, 'PT'],
];

const matcher = new KeywordMatcher(DEFAULT_KEYWORDS);

function expectRule(
  text: string,
  profile: MatchingProfile,
  action: KeywordAction,
  list: ListType | null,
  language: string,
  fcc = false,
) {
  const m = matcher.match(text, profile);
  expect(m).not.toBeNull();
  expect({
    action: m?.rule.action,
    list_type: m?.rule.list_type,
    language: m?.rule.language,
    profile: m?.profile,
    fcc_revocation: m?.fcc_revocation,
  }).toEqual({ action, list_type: list, language, profile, fcc_revocation: fcc });
}

describe('DEFAULT_KEYWORDS', () => {
  it('has exactly the expected rows, all DEFAULT', () => {
    expect(
      DEFAULT_KEYWORDS.map((r) => [r.phrase, r.action, r.list_type, r.language, r.source]),
    ).toEqual(EXPECTED_DEFAULTS.map((row) => [...row, 'DEFAULT']));
  });

  it('has no two rules with the same loose form', () => {
    const keys = DEFAULT_KEYWORDS.map((r) => normalizeLoose(r.phrase));
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('KeywordMatcher, every default keyword', () => {
  describe.each([SINCH_EXACT, US_FCC])('%s', (profile) => {
    it.each(EXPECTED_DEFAULTS)('%s → %s %s %s', (phrase, action, list, language) => {
      expectRule(phrase, profile, action, list, language);
      expectRule(phrase.toLowerCase(), profile, action, list, language);
      expectRule(`  ${phrase.toLowerCase()}\n`, profile, action, list, language);
    });
  });
});

describe('KeywordMatcher, SINCH_EXACT', () => {
  it.each([
    'stop now please',
    'Stop.',
    'STOP!!',
    'stop 🛑',
    'DETENER NOTIFICACION',
    'STOP  MARKETING',
    'quit',
    'revoke',
    'opt out',
    'OptOut',
    'cancel',
    'end',
    '',
    '   ',
  ])('%j → null', (text) => {
    expect(matcher.match(text, SINCH_EXACT)).toBeNull();
  });

  it('matches a decomposed accent (NFC)', () => {
    expectRule('detener notificacio\u0301n', SINCH_EXACT, OPT_OUT, NOTIF, 'ES');
  });

  it('HELP keywords carry no list', () => {
    for (const word of ['HELP', 'info', 'Ayuda', 'ajuda']) {
      const m = matcher.match(word, SINCH_EXACT);
      expect(m?.rule.action).toBe(HELP);
      expect(m?.rule.list_type).toBeNull();
    }
  });
});

describe('KeywordMatcher, US_FCC', () => {
  it.each([
    ['Stop.', OPT_OUT, ALL, 'EN'],
    ['STOP!!', OPT_OUT, ALL, 'EN'],
    ['stop 🛑', OPT_OUT, ALL, 'EN'],
    ['Unsubscribe!', OPT_OUT, ALL, 'EN'],
    ['stop   marketing', OPT_OUT, MKT, 'EN'],
    ['STOP-NOTIFICATION', OPT_OUT, NOTIF, 'EN'],
    ['DETENER NOTIFICACION', OPT_OUT, NOTIF, 'ES'],
    ['detener notificacion.', OPT_OUT, NOTIF, 'ES'],
    ['Volver notificacion', OPT_IN, NOTIF, 'ES'],
    ['cancelar notificacao', OPT_OUT, NOTIF, 'PT'],
    ['Cancelar!', OPT_OUT, ALL, 'PT'],
    ['optout_all_en', OPT_OUT, ALL, 'EN'],
    ['Start 👍', OPT_IN, ALL, 'EN'],
    ['help?', HELP, null, 'EN'],
  ] as Row[])('%j → listed %s %s %s', (text, action, list, language) => {
    expectRule(text, US_FCC, action, list, language, false);
  });

  it.each(['quit', 'revoke', 'opt out', 'Opt-Out', 'OptOut', 'END', 'cancel.', 'StopAll', 'QUIT!'])(
    '%j → FCC per-se revocation of OPT_OUT_ALL',
    (text) => {
      expectRule(text, US_FCC, OPT_OUT, ALL, 'EN', true);
      expect(matcher.match(text, US_FCC)?.rule.source).toBe('DEFAULT');
    },
  );

  it.each(['stop now please', 'please stop', 'cancel my order', ' s t o p', '🛑', '!!!', ''])(
    '%j → null',
    (text) => {
      expect(matcher.match(text, US_FCC)).toBeNull();
    },
  );

  it('a listed phrase wins over the FCC fallback', () => {
    const m = matcher.match('STOP', US_FCC);
    expect(m?.fcc_revocation).toBe(false);
    expect(m?.rule).toBe(DEFAULT_KEYWORDS[0]);
  });
});

describe('KeywordMatcher with custom keywords', () => {
  const custom: KeywordRule[] = [
    { phrase: 'BAJA', action: OPT_OUT, list_type: ALL, language: 'ES', source: 'CUSTOM' },
    { phrase: 'Arrêt', action: OPT_OUT, list_type: MKT, language: 'FR', source: 'CUSTOM' },
    { phrase: 'QUIT', action: OPT_OUT, list_type: ALL, language: 'EN', source: 'CUSTOM' },
    // A conflicting rule that bypassed validation: the default listed first wins.
    { phrase: 'stop', action: OPT_IN, list_type: ALL, language: 'EN', source: 'CUSTOM' },
  ];
  const m = new KeywordMatcher(buildRuleSet(custom));

  it('matches custom phrases in both profiles', () => {
    expect(m.match('baja', SINCH_EXACT)?.rule).toBe(custom[0]);
    expect(m.match('arrêt', SINCH_EXACT)?.rule).toBe(custom[1]);
    expect(m.match('arret!', SINCH_EXACT)).toBeNull();
    expect(m.match('arret!', US_FCC)?.rule).toBe(custom[1]);
  });

  it('a listed custom FCC word is a listed match, not a fallback', () => {
    expect(m.match('quit', SINCH_EXACT)?.rule).toBe(custom[2]);
    expect(m.match('quit', US_FCC)).toEqual({
      rule: custom[2],
      profile: US_FCC,
      fcc_revocation: false,
    });
  });

  it('keeps the first rule for a phrase', () => {
    expect(m.match('stop', SINCH_EXACT)?.rule.action).toBe(OPT_OUT);
    expect(m.match('stop', US_FCC)?.rule.action).toBe(OPT_OUT);
  });

  it('uses the defaults when built without rules', () => {
    expect(new KeywordMatcher().match('stop', SINCH_EXACT)?.rule).toBe(DEFAULT_KEYWORDS[0]);
  });

  it('rejects an unknown profile', () => {
    expect(() => m.match('stop', 'OTHER' as MatchingProfile)).toThrow(/unknown matching profile/);
  });
});
