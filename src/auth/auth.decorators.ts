import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { Scope } from './api-key.entity.js';
import { ErrorResponseDto } from '../common/error-response.dto.js';

export const SCOPE_KEY = 'consent-gate:scope';
export const PUBLIC_KEY = 'consent-gate:public';

/** The endpoint needs a bearer token with this scope ('admin' implies every scope). */
export function RequireScope(scope: Scope): MethodDecorator & ClassDecorator {
  return applyDecorators(
    SetMetadata(SCOPE_KEY, scope),
    ApiBearerAuth('bearer'),
    ApiUnauthorizedResponse({ description: 'No or invalid bearer token', type: ErrorResponseDto }),
    ApiForbiddenResponse({
      description: `The key lacks the "${scope}" scope`,
      type: ErrorResponseDto,
    }),
  );
}

/** The endpoint needs no bearer token. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_KEY, true);
