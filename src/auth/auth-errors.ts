import { ApiError } from '../common/api-error.js';
import type { Scope } from './api-key.entity.js';

/** The 401 of a request without `Authorization: Bearer <token>`. */
export const missingBearer = (): ApiError =>
  ApiError.unauthenticated('Missing bearer token (Authorization: Bearer <token>).');

/** The 403 of a token without the endpoint's scope. */
export const missingScope = (required: Scope): ApiError =>
  ApiError.permissionDenied(`This endpoint needs the "${required}" scope.`);
