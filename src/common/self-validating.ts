import { ArgumentMetadata, ValidationPipe } from '@nestjs/common';

/**
 * A DTO class that validates itself with a hand-written `fromPlain` (throwing ApiError 400s in the
 * same shape as the ValidationPipe). Used on the send-check hot path, where class-transformer and
 * class-validator cost more than the database query. The class keeps its @ApiProperty decorators
 * for the OpenAPI document.
 */
export interface SelfValidating<T> {
  fromPlain(value: unknown): T;
}

function isSelfValidating(m: unknown): m is SelfValidating<unknown> {
  return typeof m === 'function' && Object.prototype.hasOwnProperty.call(m, 'fromPlain');
}

/** The global pipe: self-validating DTOs validate themselves, the rest go through class-validator. */
export class AppValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const metatype = metadata.metatype;
    if (isSelfValidating(metatype)) return metatype.fromPlain(value);
    return super.transform(value, metadata);
  }
}
