import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import { Scope } from './api-key.entity.js';
import { ApiErrorResponse } from '../common/api-error-response.js';
import { missingBearer, missingScope } from './auth-errors.js';

export const SCOPE_KEY = 'consent-gate:scope';
export const PUBLIC_KEY = 'consent-gate:public';
export const ANY_SCOPE_KEY = 'consent-gate:any-scope';

/** The endpoint needs a bearer token with this scope ('admin' implies every scope). */
export function RequireScope(scope: Scope): MethodDecorator & ClassDecorator {
  return applyDecorators(
    SetMetadata(SCOPE_KEY, scope),
    ApiBearerAuth('bearer'),
    ApiErrorResponse(401, 'No or invalid bearer token', missingBearer()),
    ApiErrorResponse(403, `The key lacks the "${scope}" scope`, missingScope(scope)),
  );
}

/** The endpoint needs no bearer token. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_KEY, true);

/** The endpoint needs a valid bearer token, of any scope (e.g. GET /v1/whoami). */
export function RequireAnyScope(): MethodDecorator & ClassDecorator {
  return applyDecorators(
    SetMetadata(ANY_SCOPE_KEY, true),
    ApiBearerAuth('bearer'),
    ApiErrorResponse(401, 'No or invalid bearer token', missingBearer()),
  );
}
