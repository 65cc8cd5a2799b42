/** Keyword engine: which inbound messages are opt-out, opt-in or help requests. Framework-free. */
export {
  KEYWORD_ACTIONS,
  KeywordAction,
  type KeywordMatch,
  type KeywordRule,
  LANGUAGE_PATTERN,
  type Language,
  MATCHING_PROFILES,
  MatchingProfile,
} from './keyword-types.js';
export {
  DEFAULT_KEYWORDS,
  DEFAULT_REPLIES,
  type ReplyOverrides,
  type ReplyTexts,
  replyFor,
} from './default-keywords.js';
export { normalizeExact, normalizeLoose } from './normalize.js';
export { FCC_REVOCATION_WORDS, KeywordMatcher } from './keyword-matcher.js';
export {
  buildRuleSet,
  type CustomKeywordInput,
  MAX_PHRASE_LENGTH,
  validateCustomKeyword,
} from './custom-keywords.js';
