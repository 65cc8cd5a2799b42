import { ListType } from '../../consent/domain/consent-types.js';
import { DEFAULT_KEYWORDS } from './default-keywords.js';
import {
  KeywordAction,
  type KeywordMatch,
  type KeywordRule,
  MatchingProfile,
} from './keyword-types.js';
import { normalizeExact, normalizeLoose } from './normalize.js';

/**
 * The FCC per-se revocation words (FCC 24-24, 47 CFR 64.1200(a)(10)): "stop", "quit", "end",
 * "revoke", "opt out", "cancel", "unsubscribe", plus the common STOPALL / OPTOUT spellings.
 * In their loose form (see normalizeLoose), so "opt-out" and "Opt Out!" both give "OPT OUT".
 *
 * Only the WHOLE message counts, like every other keyword here: "please stop texting me" is not
 * matched. (The FCC also treats such wording as a revocation if a reasonable person would read it
 * so; spotting a word inside a longer reply is left to a later, reviewable layer.)
 */
export const FCC_REVOCATION_WORDS: readonly string[] = Object.freeze([
  'STOP',
  'QUIT',
  'END',
  'REVOKE',
  'OPT OUT',
  'CANCEL',
  'UNSUBSCRIBE',
  'STOPALL',
  'OPTOUT',
]);

/** The rule an FCC per-se word stands for: opt out of everything, English, default. */
function fccRule(word: string): KeywordRule {
  return Object.freeze({
    phrase: word,
    action: KeywordAction.OPT_OUT,
    list_type: ListType.OPT_OUT_ALL,
    language: 'EN',
    source: 'DEFAULT' as const,
  });
}

/**
 * Matches inbound messages against a rule set (usually DEFAULT_KEYWORDS plus an app's custom
 * keywords, see buildRuleSet). Lookup tables are built once in the constructor; a match is one
 * normalisation (linear in the message length) and one Map lookup.
 *
 * If two rules have the same normalised phrase, the first in the list wins, so defaults (listed
 * first by buildRuleSet) cannot be shadowed. validateCustomKeyword rejects such clashes up front.
 */
export class KeywordMatcher {
  private readonly exact = new Map<string, KeywordRule>();
  private readonly loose = new Map<string, KeywordRule>();
  private readonly fcc = new Map<string, KeywordRule>();

  constructor(readonly rules: readonly KeywordRule[] = DEFAULT_KEYWORDS) {
    for (const rule of rules) {
      addFirst(this.exact, normalizeExact(rule.phrase), rule);
      addFirst(this.loose, normalizeLoose(rule.phrase), rule);
    }
    for (const word of FCC_REVOCATION_WORDS) this.fcc.set(normalizeLoose(word), fccRule(word));
  }

  /**
   * The rule the whole message matches under the profile, or null.
   * US_FCC: a listed phrase wins over the FCC per-se fallback ("CANCELAR" stays PT OPT_OUT_ALL;
   * "STOP" is the listed EN rule with fcc_revocation false).
   */
  match(text: string, profile: MatchingProfile): KeywordMatch | null {
    if (profile === MatchingProfile.SINCH_EXACT) {
      const key = normalizeExact(text);
      const rule = key === '' ? undefined : this.exact.get(key);
      return rule ? { rule, profile, fcc_revocation: false } : null;
    }
    if (profile === MatchingProfile.US_FCC) {
      const key = normalizeLoose(text);
      if (key === '') return null;
      const rule = this.loose.get(key);
      if (rule) return { rule, profile, fcc_revocation: false };
      const fcc = this.fcc.get(key);
      return fcc ? { rule: fcc, profile, fcc_revocation: true } : null;
    }
    throw new Error(`unknown matching profile: ${String(profile)}`);
  }
}

function addFirst(map: Map<string, KeywordRule>, key: string, rule: KeywordRule): void {
  if (key !== '' && !map.has(key)) map.set(key, rule);
}
