import { describe, expect, it } from '@jest/globals';
import { DEFAULT_REPLIES, replyFor } from './default-keywords.js';
import { KeywordAction } from './keyword-types.js';

const { OPT_OUT, OPT_IN, HELP } = KeywordAction;

describe('DEFAULT_REPLIES', () => {
  it("has Sinch's opt-out and opt-in texts", () => {
    expect(DEFAULT_REPLIES.EN.OPT_OUT).toBe('Your request to leave has been accomplished.');
    expect(DEFAULT_REPLIES.EN.OPT_IN).toBe('Your request to get back has been accomplished.');
    expect(DEFAULT_REPLIES.ES.OPT_OUT).toBe('Su solicitud de salida se ha cumplido.');
    expect(DEFAULT_REPLIES.ES.OPT_IN).toBe('Su solicitud de regreso ha sido concedida.');
    expect(DEFAULT_REPLIES.PT.OPT_OUT).toBe('Seu pedido de saída foi atendido.');
    expect(DEFAULT_REPLIES.PT.OPT_IN).toBe('Seu pedido de voltar foi atendido.');
  });

  it('has a help text per language that names its own keywords', () => {
    expect(DEFAULT_REPLIES.EN.HELP).toMatch(/STOP.*START/);
    expect(DEFAULT_REPLIES.ES.HELP).toMatch(/DETENER.*VOLVER/);
    expect(DEFAULT_REPLIES.PT.HELP).toMatch(/PARAR.*VOLTAR/);
  });
});

describe('replyFor', () => {
  it('uses the language default', () => {
    expect(replyFor(OPT_OUT, 'ES')).toBe(DEFAULT_REPLIES.ES.OPT_OUT);
    expect(replyFor(OPT_IN, 'PT')).toBe(DEFAULT_REPLIES.PT.OPT_IN);
    expect(replyFor(HELP, 'EN')).toBe(DEFAULT_REPLIES.EN.HELP);
  });

  it('falls back to EN for a language without texts', () => {
    expect(replyFor(OPT_OUT, 'FR')).toBe(DEFAULT_REPLIES.EN.OPT_OUT);
    expect(replyFor(HELP, 'DE')).toBe(DEFAULT_REPLIES.EN.HELP);
  });

  it('does not treat inherited object keys as languages', () => {
    expect(replyFor(OPT_OUT, 'constructor')).toBe(DEFAULT_REPLIES.EN.OPT_OUT);
    expect(replyFor(OPT_OUT, '__proto__', {})).toBe(DEFAULT_REPLIES.EN.OPT_OUT);
  });

  it('prefers an override, then the language default, then the EN override, then EN', () => {
    const overrides = {
      ES: { OPT_OUT: 'Baja confirmada.' },
      FR: { OPT_OUT: 'Désinscription confirmée.' },
      EN: { OPT_IN: 'Welcome back.', HELP: 'Call us.' },
    };
    expect(replyFor(OPT_OUT, 'ES', overrides)).toBe('Baja confirmada.');
    expect(replyFor(OPT_IN, 'ES', overrides)).toBe(DEFAULT_REPLIES.ES.OPT_IN);
    expect(replyFor(OPT_OUT, 'FR', overrides)).toBe('Désinscription confirmée.');
    expect(replyFor(OPT_IN, 'FR', overrides)).toBe('Welcome back.');
    expect(replyFor(OPT_IN, 'EN', overrides)).toBe('Welcome back.');
    expect(replyFor(OPT_OUT, 'EN', overrides)).toBe(DEFAULT_REPLIES.EN.OPT_OUT);
    expect(replyFor(HELP, 'IT', overrides)).toBe('Call us.');
  });

  it('treats a blank override as missing', () => {
    expect(replyFor(OPT_OUT, 'ES', { ES: { OPT_OUT: '  ' } })).toBe(DEFAULT_REPLIES.ES.OPT_OUT);
    expect(replyFor(OPT_OUT, 'FR', { FR: { OPT_OUT: '' } })).toBe(DEFAULT_REPLIES.EN.OPT_OUT);
  });
});
