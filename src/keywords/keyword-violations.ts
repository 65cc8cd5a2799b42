import { ApiError, FieldViolation } from '../common/api-error.js';

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

/** The 400 for a request with these violations (nothing stored). */
export function invalidKeyword(violations: readonly FieldViolation[]): ApiError {
  const summary = violations
    .slice(0, 5)
    .map((v) => `${v.field}: ${v.description}`)
    .join('; ');
  return ApiError.invalidArgument(`Invalid request: ${summary}`, [...violations]);
}
