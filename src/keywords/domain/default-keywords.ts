import { ListType } from '../../consent/domain/consent-types.js';
import { KeywordAction, type KeywordRule, type Language } from './keyword-types.js';

/**
 * Sinch's default keywords (sinch.md §2.4, community article 18980), plus our HELP words.
 * Sinch matches them case-insensitively as the whole message; the spelling here is Sinch's.
 */
const { OPT_OUT, OPT_IN, HELP } = KeywordAction;
const {
  OPT_OUT_ALL: ALL,
  OPT_OUT_MARKETING: MARKETING,
  OPT_OUT_NOTIFICATION: NOTIFICATION,
} = ListType;

function rules(
  language: Language,
  action: KeywordAction,
  list_type: ListType | null,
  phrases: readonly string[],
): KeywordRule[] {
  return phrases.map((phrase) =>
    Object.freeze({ phrase, action, list_type, language, source: 'DEFAULT' as const }),
  );
}

export const DEFAULT_KEYWORDS: readonly KeywordRule[] = Object.freeze([
  // English
  ...rules('EN', OPT_OUT, ALL, ['STOP', 'UNSUBSCRIBE', 'OptOut_All_EN']),
  ...rules('EN', OPT_IN, ALL, ['START', 'SUBSCRIBE', 'OptIn_All_EN']),
  ...rules('EN', OPT_OUT, MARKETING, [
    'STOP MARKETING',
    'UNSUBSCRIBE MARKETING',
    'OptOut_Marketing_EN',
  ]),
  ...rules('EN', OPT_IN, MARKETING, [
    'START MARKETING',
    'SUBSCRIBE MARKETING',
    'OptIn_Marketing_EN',
  ]),
  ...rules('EN', OPT_OUT, NOTIFICATION, [
    'STOP NOTIFICATION',
    'UNSUBSCRIBE NOTIFICATION',
    'OptOut_Notification_EN',
  ]),
  ...rules('EN', OPT_IN, NOTIFICATION, [
    'START NOTIFICATION',
    'SUBSCRIBE NOTIFICATION',
    'OptIn_Notification_EN',
  ]),
  // Spanish (Sinch keeps the accent in NOTIFICACIÓN)
  ...rules('ES', OPT_OUT, ALL, ['DETENER', 'SALIR', 'OptOut_All_ES']),
  ...rules('ES', OPT_IN, ALL, ['VOLVER', 'RECIBIR', 'OptIn_All_ES']),
  ...rules('ES', OPT_OUT, MARKETING, [
    'DETENER MARKETING',
    'SALIR MARKETING',
    'OptOut_Marketing_ES',
  ]),
  ...rules('ES', OPT_IN, MARKETING, [
    'VOLVER MARKETING',
    'RECIBIR MARKETING',
    'OptIn_Marketing_ES',
  ]),
  ...rules('ES', OPT_OUT, NOTIFICATION, [
    'DETENER NOTIFICACIÓN',
    'SALIR NOTIFICACIÓN',
    'OptOut_Notification_ES',
  ]),
  ...rules('ES', OPT_IN, NOTIFICATION, [
    'VOLVER NOTIFICACIÓN',
    'RECIBIR NOTIFICACIÓN',
    'OptIn_Notification_ES',
  ]),
  // Portuguese
  ...rules('PT', OPT_OUT, ALL, ['PARAR', 'CANCELAR', 'OptOut_All_PT']),
  ...rules('PT', OPT_IN, ALL, ['VOLTAR', 'RECEBER', 'OptIn_All_PT']),
  // OUR COMPLETION, not verified against Sinch: the source page breaks off after
  // "PARAR MARKETING", "CANCEL…". The PT MARKETING/NOTIFICATION rows follow the EN/ES pattern.
  ...rules('PT', OPT_OUT, MARKETING, [
    'PARAR MARKETING',
    'CANCELAR MARKETING',
    'OptOut_Marketing_PT',
  ]),
  ...rules('PT', OPT_IN, MARKETING, [
    'VOLTAR MARKETING',
    'RECEBER MARKETING',
    'OptIn_Marketing_PT',
  ]),
  ...rules('PT', OPT_OUT, NOTIFICATION, [
    'PARAR NOTIFICAÇÃO',
    'CANCELAR NOTIFICAÇÃO',
    'OptOut_Notification_PT',
  ]),
  ...rules('PT', OPT_IN, NOTIFICATION, [
    'VOLTAR NOTIFICAÇÃO',
    'RECEBER NOTIFICAÇÃO',
    'OptIn_Notification_PT',
  ]),
  // HELP: our addition (Sinch lists none). Changes no consent, so no list.
  ...rules('EN', HELP, null, ['HELP', 'INFO']),
  ...rules('ES', HELP, null, ['AYUDA']),
  ...rules('PT', HELP, null, ['AJUDA']),
]);

/** Auto-reply texts for one language. */
export interface ReplyTexts {
  readonly OPT_OUT: string;
  readonly OPT_IN: string;
  readonly HELP: string;
}

/** Auto-reply overrides (e.g. an app's own texts), per language and action; any may be missing. */
export type ReplyOverrides = Readonly<
  Partial<Record<Language, Partial<Record<KeywordAction, string>>>>
>;

/**
 * Default auto-replies. OPT_OUT/OPT_IN are Sinch's texts (sinch.md §2.4); HELP is our own text.
 */
export const DEFAULT_REPLIES: Readonly<Record<'EN' | 'ES' | 'PT', ReplyTexts>> = Object.freeze({
  EN: Object.freeze({
    OPT_OUT: 'Your request to leave has been accomplished.',
    OPT_IN: 'Your request to get back has been accomplished.',
    HELP: 'Reply STOP to unsubscribe or START to subscribe again. Msg&data rates may apply.',
  }),
  ES: Object.freeze({
    OPT_OUT: 'Su solicitud de salida se ha cumplido.',
    OPT_IN: 'Su solicitud de regreso ha sido concedida.',
    HELP: 'Responda DETENER para darse de baja o VOLVER para suscribirse de nuevo. Pueden aplicarse tarifas de mensajes y datos.',
  }),
  PT: Object.freeze({
    OPT_OUT: 'Seu pedido de saída foi atendido.',
    OPT_IN: 'Seu pedido de voltar foi atendido.',
    HELP: 'Responda PARAR para cancelar ou VOLTAR para receber novamente. Podem ser cobradas tarifas de mensagens e dados.',
  }),
});

function usable(text: string | undefined): text is string {
  return text !== undefined && text.trim().length > 0;
}

function defaultText(language: Language, action: KeywordAction): string | undefined {
  return Object.hasOwn(DEFAULT_REPLIES, language)
    ? DEFAULT_REPLIES[language as keyof typeof DEFAULT_REPLIES][action]
    : undefined;
}

function overrideText(
  overrides: ReplyOverrides | undefined,
  language: Language,
  action: KeywordAction,
): string | undefined {
  if (!overrides || !Object.hasOwn(overrides, language)) return undefined;
  const texts = overrides[language];
  return texts && Object.hasOwn(texts, action) ? texts[action] : undefined;
}

/**
 * The auto-reply for an action in a language. Order: the override for that language, the default
 * for that language, then the same two for EN. An empty or blank text counts as missing.
 */
export function replyFor(
  action: KeywordAction,
  language: Language,
  overrides?: ReplyOverrides,
): string {
  for (const lang of language === 'EN' ? ['EN'] : [language, 'EN']) {
    const o = overrideText(overrides, lang, action);
    if (usable(o)) return o;
    const d = defaultText(lang, action);
    if (usable(d)) return d;
  }
  // Unreachable: DEFAULT_REPLIES.EN has every action.
  return DEFAULT_REPLIES.EN[action];
}
