import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import { ApiError, RpcStatus, toErrorBody } from './api-error.js';
import { isDatabaseUnavailable } from './database-errors.js';
import { malformedJson } from './json-body.js';

const STATUS_BY_HTTP: Record<number, RpcStatus> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'INVALID_ARGUMENT',
  409: 'ALREADY_EXISTS',
  413: 'INVALID_ARGUMENT',
  415: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  503: 'UNAVAILABLE',
};

/** Converts anything thrown into an ApiError. The single error-to-HTTP mapping of the service. */
export function toApiError(exception: unknown, logger: Logger): ApiError {
  if (exception instanceof ApiError) return exception;
  if (isDatabaseUnavailable(exception)) {
    logger.warn(`database unavailable: ${describe(exception)}`);
    return ApiError.unavailable();
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    if (status === 404) return ApiError.notFound('No such route.');
    // Nest wraps Fastify's own 4xx errors (body parser, content type, body limit), keeping them
    // as the cause.
    if (isMalformedJson(exception.cause)) return malformedJson();
    return new ApiError(status, STATUS_BY_HTTP[status] ?? 'INTERNAL', exception.message);
  }
  // Errors raised by Fastify itself (body parser, content type, body limit) carry a statusCode.
  const fastifyError = exception as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof fastifyError?.statusCode === 'number' && fastifyError.statusCode < 500) {
    const status = fastifyError.statusCode;
    if (isMalformedJson(exception)) return malformedJson();
    const message = typeof fastifyError.message === 'string' ? fastifyError.message : 'Bad request';
    return new ApiError(status, STATUS_BY_HTTP[status] ?? 'INVALID_ARGUMENT', message);
  }
  const errorId = randomUUID();
  logger.error(
    `unhandled error ${errorId}: ${describe(exception)}`,
    exception instanceof Error ? exception.stack : undefined,
  );
  return new ApiError(500, 'INTERNAL', `Internal error (error_id ${errorId}).`, [
    {
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: 'INTERNAL',
      metadata: { error_id: errorId },
    },
  ]);
}

function isMalformedJson(e: unknown): boolean {
  return (
    e instanceof SyntaxError || (e as { code?: unknown })?.code === 'FST_ERR_CTP_INVALID_JSON_BODY'
  );
}

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`.slice(0, 300);
  return String(e).slice(0, 300);
}

@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const error = toApiError(exception, this.logger);
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    for (const [name, value] of Object.entries(error.headers)) void reply.header(name, value);
    void reply
      .status(error.httpStatus)
      .header('content-type', 'application/json; charset=utf-8')
      .send(toErrorBody(error));
  }
}
