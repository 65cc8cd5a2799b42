import { LIST_TYPES, ListType } from '../../consent/domain/consent-types.js';
import { DEFAULT_KEYWORDS } from './default-keywords.js';
import { FCC_REVOCATION_WORDS } from './keyword-matcher.js';
import {
  KEYWORD_ACTIONS,
  KeywordAction,
  type KeywordRule,
  LANGUAGE_PATTERN,
} from './keyword-types.js';
import { normalizeExact, normalizeLoose } from './normalize.js';

/** Longest custom phrase, in Unicode code points after trimming. */
export const MAX_PHRASE_LENGTH = 100;

/** A custom keyword as submitted. Fields are unknown: this is where untrusted input is checked. */
export interface CustomKeywordInput {
  readonly phrase: unknown;
  readonly action: unknown;
  readonly list_type?: unknown;
  readonly language: unknown;
}

// C0/C1 control characters, DEL, and Unicode line/paragraph separators (as for identities).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

const FCC_WORDS = new Set(FCC_REVOCATION_WORDS.map(normalizeLoose));

function describe(rule: KeywordRule): string {
  const what = rule.list_type ? `${rule.action} ${rule.list_type}` : rule.action;
  return `${rule.source} keyword "${rule.phrase}" (${what}, ${rule.language})`;
}

/**
 * Checks a custom keyword against the format rules and against the rules already in force
 * (`existing`: the defaults plus the app's other custom keywords; when editing a keyword, leave
 * the one being edited out). Returns human-readable violations; empty means valid.
 *
 * One phrase, one meaning: phrases are compared in their loose form (normalizeLoose, the US_FCC
 * form, so accents, punctuation and spacing do not make a new phrase).
 * - Same loose form, different action or list: rejected as a clash.
 * - Same exact form (normalizeExact), same action and list: rejected as a duplicate.
 * - Same loose form, same action and list, different exact form (e.g. "Stop." next to STOP):
 *   allowed; it adds a variant that SINCH_EXACT matching would otherwise miss.
 * - An FCC per-se revocation word (QUIT, END, ...) may only be an OPT_OUT of OPT_OUT_ALL, so a
 *   custom rule cannot turn a legal revocation into something else under US_FCC.
 */
export function validateCustomKeyword(
  input: CustomKeywordInput,
  existing: readonly KeywordRule[],
): string[] {
  const errors: string[] = [];
  const { phrase, action, list_type, language } = input;

  let trimmed: string | null = null;
  if (typeof phrase !== 'string') {
    errors.push('phrase must be a string');
  } else if (CONTROL.test(phrase)) {
    errors.push('phrase must not contain control characters');
  } else if (phrase.trim() === '') {
    errors.push('phrase must not be empty');
  } else {
    const length = [...phrase.trim()].length;
    if (length > MAX_PHRASE_LENGTH) {
      errors.push(`phrase must be at most ${MAX_PHRASE_LENGTH} characters (got ${length})`);
    } else if (normalizeLoose(phrase) === '') {
      errors.push('phrase must contain at least one letter or digit');
    } else {
      trimmed = phrase.trim();
    }
  }

  const validAction = KEYWORD_ACTIONS.includes(action as KeywordAction)
    ? (action as KeywordAction)
    : null;
  if (!validAction) errors.push(`action must be one of ${KEYWORD_ACTIONS.join(', ')}`);

  let validList: ListType | null | undefined;
  if (validAction === KeywordAction.HELP) {
    if (list_type === null || list_type === undefined) validList = null;
    else errors.push('list_type must be null for HELP');
  } else if (validAction) {
    if (LIST_TYPES.includes(list_type as ListType)) validList = list_type as ListType;
    else errors.push(`list_type is required for ${validAction}: one of ${LIST_TYPES.join(', ')}`);
  }

  if (typeof language !== 'string' || !LANGUAGE_PATTERN.test(language)) {
    errors.push('language must be a two-letter upper-case ISO 639-1 code, such as EN');
  }

  if (trimmed === null || !validAction || validList === undefined) return errors;

  const loose = normalizeLoose(trimmed);
  const exact = normalizeExact(trimmed);
  const conflicts: string[] = [];
  for (const rule of existing) {
    if (normalizeLoose(rule.phrase) !== loose) continue;
    if (rule.action !== validAction || rule.list_type !== validList) {
      conflicts.push(
        `phrase "${trimmed}" clashes with ${describe(rule)}: a phrase cannot mean two things`,
      );
    } else if (normalizeExact(rule.phrase) === exact) {
      conflicts.push(`phrase "${trimmed}" duplicates ${describe(rule)}`);
    }
  }
  // Reported only when no listed rule already explains the problem (e.g. STOP is listed).
  if (
    conflicts.length === 0 &&
    FCC_WORDS.has(loose) &&
    (validAction !== KeywordAction.OPT_OUT || validList !== ListType.OPT_OUT_ALL)
  ) {
    conflicts.push(
      `phrase "${trimmed}" is an FCC per-se revocation word; it can only be OPT_OUT of OPT_OUT_ALL`,
    );
  }
  errors.push(...conflicts);
  return errors;
}

/** The rules in force for an app: the defaults first (they win a tie), then its custom keywords. */
export function buildRuleSet(customs: readonly KeywordRule[]): readonly KeywordRule[] {
  return [...DEFAULT_KEYWORDS, ...customs];
}
