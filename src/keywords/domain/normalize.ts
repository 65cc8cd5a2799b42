/**
 * Text normalisation for keyword matching. Both functions are applied to the keyword and to the
 * inbound message alike, and compared for equality: the whole message must be the keyword.
 */

/**
 * SINCH_EXACT form: trimmed, Unicode NFC, upper-cased. Nothing else changes: accents, punctuation
 * and inner whitespace count ("Stop." ≠ "STOP", "STOP  MARKETING" ≠ "STOP MARKETING").
 */
export function normalizeExact(text: string): string {
  return text.trim().normalize('NFC').toUpperCase();
}

const COMBINING_MARKS = /\p{M}+/gu;
// Everything but letters, digits, '_' (kept for the OptOut_All_EN-style tokens) and whitespace.
const NOT_WORD = /[^\p{L}\p{N}_\s]+/gu;
const WHITESPACE = /\s+/gu;

/**
 * US_FCC form: the exact form, then
 * - accents and other combining marks removed (NFD, marks dropped): "NOTIFICACIÓN" ≡ "NOTIFICACION";
 * - every other character that is not a letter, digit, '_' or whitespace (punctuation, hyphens,
 *   emoji, symbols, control and format characters) replaced by a space: "Stop." → "STOP",
 *   "stop 🛑" → "STOP", "opt-out" → "OPT OUT";
 * - runs of whitespace collapsed to one space, and trimmed.
 *
 * Deliberately simple: letters split by spaces stay split (" s t o p" → "S T O P", not STOP), and
 * an apostrophe splits a word like a hyphen does ("don't" → "DON T").
 * Defined on top of {@link normalizeExact}, so equal exact forms always have equal loose forms.
 */
export function normalizeLoose(text: string): string {
  return normalizeExact(text)
    .normalize('NFD')
    .replace(COMBINING_MARKS, '')
    .replace(NOT_WORD, ' ')
    .replace(WHITESPACE, ' ')
    .trim()
    .normalize('NFC');
}
