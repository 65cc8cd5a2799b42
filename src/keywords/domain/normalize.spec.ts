import { describe, expect, it } from '@jest/globals';
import { normalizeExact, normalizeLoose } from './normalize.js';

describe('normalizeExact', () => {
  it.each([
    ['  stop  ', 'STOP'],
    ['Stop.', 'STOP.'],
    ['stop  marketing', 'STOP  MARKETING'],
    ['notificación', 'NOTIFICACIÓN'],
    ['optout_all_en', 'OPTOUT_ALL_EN'],
    ['\tSTOP\n', 'STOP'],
  ])('%j → %j', (input, expected) => {
    expect(normalizeExact(input)).toBe(expected);
  });

  it('composes to NFC, so decomposed and precomposed accents are equal', () => {
    const decomposed = 'NOTIFICACIO\u0301N';
    expect(decomposed).not.toBe('NOTIFICACIÓN');
    expect(normalizeExact(decomposed)).toBe('NOTIFICACIÓN');
  });
});

describe('normalizeLoose', () => {
  it.each([
    ['Stop.', 'STOP'],
    ['STOP!!', 'STOP'],
    ['stop 🛑', 'STOP'],
    ['🛑stop🛑', 'STOP'],
    ['opt-out', 'OPT OUT'],
    ['Opt   Out!', 'OPT OUT'],
    ['OptOut', 'OPTOUT'],
    ['notificación', 'NOTIFICACION'],
    ['NOTIFICACIO\u0301N', 'NOTIFICACION'],
    ['Notificação', 'NOTIFICACAO'],
    ['OptOut_All_EN', 'OPTOUT_ALL_EN'],
    ['  detener\u00a0\u00a0notificación. ', 'DETENER NOTIFICACION'],
    ['stop\u200dnow', 'STOP NOW'],
    ['STOP 2', 'STOP 2'],
    ['!!!', ''],
    ['   ', ''],
  ])('%j → %j', (input, expected) => {
    expect(normalizeLoose(input)).toBe(expected);
  });

  it('keeps letters separated by spaces apart (" s t o p" is not STOP)', () => {
    expect(normalizeLoose(' s t o p')).toBe('S T O P');
  });

  it('equal exact forms give equal loose forms', () => {
    for (const [a, b] of [
      ['stop', ' STOP '],
      ['Notificación', 'NOTIFICACIÓN'],
    ] as const) {
      expect(normalizeExact(a)).toBe(normalizeExact(b));
      expect(normalizeLoose(a)).toBe(normalizeLoose(b));
    }
  });
});
