import type { ListType } from '../../consent/domain/consent-types.js';

/** What a matched keyword asks for. */
export enum KeywordAction {
  /** Put the sender on the rule's list. */
  OPT_OUT = 'OPT_OUT',
  /** Take the sender off the rule's list. */
  OPT_IN = 'OPT_IN',
  /** Answer with the help text; changes no consent. Our addition: Sinch lists no HELP keyword. */
  HELP = 'HELP',
}
export const KEYWORD_ACTIONS = Object.values(KeywordAction);

/** How an inbound message is compared with the keywords. */
export enum MatchingProfile {
  /**
   * Sinch's behaviour: the whole message, trimmed and case-insensitive, must equal a keyword.
   * Accents, punctuation and inner spacing count ("Stop." is not STOP).
   */
  SINCH_EXACT = 'SINCH_EXACT',
  /**
   * For US senders (FCC 24-24, 47 CFR 64.1200(a)(10)): also ignores accents, punctuation, emoji
   * and extra spaces, and treats the FCC per-se revocation words as an opt-out of everything.
   * Still whole-message only (see {@link FCC_REVOCATION_WORDS}).
   */
  US_FCC = 'US_FCC',
}
export const MATCHING_PROFILES = Object.values(MatchingProfile);

/**
 * A language code: upper-case ISO 639-1 ('EN', 'ES', 'PT'). Defaults exist for EN, ES and PT;
 * custom keywords may use any two-letter code (see {@link LANGUAGE_PATTERN}).
 */
export type Language = string;
export const LANGUAGE_PATTERN = /^[A-Z]{2}$/;

/** One keyword: a phrase and what it does. */
export interface KeywordRule {
  /** The phrase as configured (display form); matching normalises it. */
  readonly phrase: string;
  readonly action: KeywordAction;
  /** The list an OPT_OUT/OPT_IN acts on; null only (and always) for HELP. */
  readonly list_type: ListType | null;
  /** Language of the keyword; chooses the auto-reply text. */
  readonly language: Language;
  /** Sinch's default list (plus our HELP words and PT completion), or an app's own keyword. */
  readonly source: 'DEFAULT' | 'CUSTOM';
}

/** The result of matching one inbound message. */
export interface KeywordMatch {
  readonly rule: KeywordRule;
  /** The profile the message was matched under. */
  readonly profile: MatchingProfile;
  /**
   * True when only the US_FCC per-se revocation rule matched (e.g. "quit", "revoke"), not a listed
   * phrase. Always false under SINCH_EXACT.
   */
  readonly fcc_revocation: boolean;
}
