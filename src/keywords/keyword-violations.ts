import type { FieldViolation } from '../common/api-error.js';

const FIELDS = ['phrase', 'action', 'list_type', 'language'] as const;

/**
 * The validateCustomKeyword messages as google.rpc.BadRequest field violations. Each message
 * starts with the field it is about ("phrase must not be empty", "list_type is required ...");
 * clash and duplicate messages start with "phrase".
 */
export function keywordViolations(messages: readonly string[]): FieldViolation[] {
  return messages.map((description) => ({
    field: FIELDS.find((f) => description.startsWith(`${f} `)) ?? 'phrase',
    description,
  }));
}
