import { ValidationError, ValidationPipe } from '@nestjs/common';
import { AppValidationPipe } from './self-validating.js';
import { ApiError, FieldViolation } from './api-error.js';

function flatten(errors: ValidationError[], prefix = ''): FieldViolation[] {
  const out: FieldViolation[] = [];
  for (const e of errors) {
    const field = /^\d+$/.test(e.property)
      ? `${prefix}[${e.property}]`
      : prefix
        ? `${prefix}.${e.property}`
        : e.property;
    for (const message of Object.values(e.constraints ?? {})) {
      out.push({ field, description: message });
    }
    if (e.children?.length) out.push(...flatten(e.children, field));
  }
  return out;
}

/**
 * The global ValidationPipe: unknown fields rejected (by AppValidationPipe's own check, which
 * also sees keys named like prototype members), every failing field named in the 400.
 */
export function createValidationPipe(): ValidationPipe {
  return new AppValidationPipe({
    transform: true,
    forbidUnknownValues: true,
    stopAtFirstError: false,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => ApiError.invalidRequest(flatten(errors)),
  });
}
