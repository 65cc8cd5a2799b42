import { ValidationError, ValidationPipe } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync, ValidatorOptions } from 'class-validator';
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
const VALIDATOR_OPTIONS: ValidatorOptions = {
  forbidUnknownValues: true,
  stopAtFirstError: false,
  validationError: { target: false, value: false },
};

export function createValidationPipe(): ValidationPipe {
  return new AppValidationPipe({
    transform: true,
    ...VALIDATOR_OPTIONS,
    exceptionFactory: (errors) => ApiError.invalidRequest(flatten(errors)),
  });
}

/**
 * The 400 the global pipe answers when `plain` arrives as a `dto` (the OpenAPI examples are
 * made with it). Throws when `plain` is valid.
 */
export function validationErrorOf(dto: new () => object, plain: object): ApiError {
  const errors = validateSync(plainToInstance(dto, plain), VALIDATOR_OPTIONS);
  if (errors.length === 0) throw new Error(`${dto.name}: the example is valid`);
  return ApiError.invalidRequest(flatten(errors));
}
