/**
 * The one error type the service throws on purpose. The global filter turns it into Sinch's
 * (Google RPC style) error body: {"error":{"code","message","status","details"}}.
 */
export type RpcStatus =
  | 'INVALID_ARGUMENT'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'INTERNAL'
  | 'UNAVAILABLE';

export interface FieldViolation {
  field: string;
  description: string;
}

export type ErrorDetail =
  | { '@type': 'type.googleapis.com/google.rpc.BadRequest'; field_violations: FieldViolation[] }
  | {
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo';
      reason: string;
      metadata?: Record<string, string>;
    };

/** The Retry-After of a 503 for a database outage: long enough for a failover to progress. */
export const DATABASE_RETRY_AFTER_S = 2;

export class ApiError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly rpcStatus: RpcStatus,
    message: string,
    readonly details: ErrorDetail[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /**
   * THE "invalid request" error: a 400 naming every failing field (google.rpc.BadRequest, at
   * most 100), its message the first five. Every validation (the global pipe, the hand-written
   * `fromPlain`s, the JSON body guard, services) builds its 400 here.
   */
  static invalidRequest(violations: readonly FieldViolation[], message?: string): ApiError {
    const summary = violations
      .slice(0, 5)
      .map((v) => (v.field ? `${v.field}: ${v.description}` : v.description))
      .join('; ');
    return new ApiError(
      400,
      'INVALID_ARGUMENT',
      message ?? `Invalid request: ${summary}`,
      violations.length > 0
        ? [
            {
              '@type': 'type.googleapis.com/google.rpc.BadRequest',
              field_violations: violations.slice(0, 100),
            },
          ]
        : [],
    );
  }

  /** An invalid request with one failing field. */
  static field(field: string, description: string): ApiError {
    return ApiError.invalidRequest([{ field, description }]);
  }

  /**
   * 401 with a WWW-Authenticate challenge. The Sinch SDK drops its cached token and fetches a new
   * one only when the challenge mentions "expired", so invalid bearer tokens say so.
   */
  static unauthenticated(
    message = 'Request had invalid credentials.',
    scheme = 'Bearer',
  ): ApiError {
    const challenge =
      scheme === 'Bearer'
        ? 'Bearer realm="consent-gate", error="invalid_token", error_description="The access token is invalid or expired"'
        : `${scheme} realm="consent-gate"`;
    return new ApiError(401, 'UNAUTHENTICATED', message, [], { 'www-authenticate': challenge });
  }

  static permissionDenied(message: string): ApiError {
    return new ApiError(403, 'PERMISSION_DENIED', message);
  }

  static notFound(message: string): ApiError {
    return new ApiError(404, 'NOT_FOUND', message);
  }

  /** 409: the resource is not in a state that allows the request (nothing was done). */
  static failedPrecondition(message: string): ApiError {
    return new ApiError(409, 'FAILED_PRECONDITION', message);
  }

  /** 503 for a database outage, with the Retry-After (seconds) clients and Sinch may honour. */
  static unavailable(message = 'The database is unavailable; retry later.'): ApiError {
    return new ApiError(503, 'UNAVAILABLE', message, [], {
      'retry-after': String(DATABASE_RETRY_AFTER_S),
    });
  }
}

/** The JSON body of every error response. */
export interface ErrorBody {
  error: { code: number; message: string; status: RpcStatus; details: ErrorDetail[] };
}

export function toErrorBody(e: ApiError): ErrorBody {
  return {
    error: { code: e.httpStatus, message: e.message, status: e.rpcStatus, details: e.details },
  };
}
