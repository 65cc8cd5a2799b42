import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { ApiError, toErrorBody } from './api-error.js';
import { ErrorResponseDto } from './error-response.dto.js';
import { invalidId } from './params.dto.js';

/** The example of a status when the endpoint names none: errors every endpoint can answer. */
const DEFAULT_EXAMPLES: Partial<Record<number, () => ApiError>> = {
  // A malformed app id, as AppParams (on every app-scoped route) answers it.
  400: () => ApiError.invalidRequest([invalidId('app_id')]),
  503: () => ApiError.unavailable(),
};

/**
 * An error response in the OpenAPI document: the service's error body (ErrorResponseDto), always
 * application/json (also on endpoints that produce CSV), with an example of this very status.
 * `example` is an error the service really throws there; without it the status's default.
 */
export function ApiErrorResponse(
  status: number,
  description: string,
  example?: ApiError,
): MethodDecorator & ClassDecorator {
  const error = example ?? DEFAULT_EXAMPLES[status]?.();
  if (!error) throw new Error(`ApiErrorResponse(${status}): no default example; pass one`);
  if (error.httpStatus !== status) {
    throw new Error(`ApiErrorResponse(${status}): the example is a ${error.httpStatus}`);
  }
  return applyDecorators(
    ApiExtraModels(ErrorResponseDto),
    ApiResponse({
      status,
      description,
      content: {
        'application/json': {
          schema: { $ref: getSchemaPath(ErrorResponseDto) },
          example: toErrorBody(error),
        },
      },
    }),
  );
}
