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

/** The global ValidationPipe: unknown fields rejected, every failing field named in the 400. */
export function createValidationPipe(): ValidationPipe {
  return new AppValidationPipe({
    transform: true,
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    stopAtFirstError: false,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const violations = flatten(errors).slice(0, 100);
      const summary = violations
        .slice(0, 5)
        .map((v) => `${v.field}: ${v.description}`)
        .join('; ');
      return ApiError.invalidArgument(`Invalid request: ${summary}`, violations);
    },
  });
}
