import 'reflect-metadata';
import { Logger, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply } from 'fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { Logger as PinoNestLogger } from 'nestjs-pino';
import { AppConfig } from './config/app-config.js';
import { AppModule } from './app.module.js';
import { ApiError, toErrorBody } from './common/api-error.js';
import { HotPaths } from './common/hot-paths.js';
import { parseJsonBody } from './common/json-body.js';
import { IMPORT_MEDIA_TYPES } from './imports/imports.controller.js';
import { BootstrapAdminKey } from './auth/bootstrap-admin-key.js';
import { bootSummary } from './boot-summary.js';
import { QuietBootLogger } from './logging/quiet-boot-logger.js';
import { installGracefulShutdown } from './shutdown.js';

const LEVELS: LogLevel[] = ['error', 'warn', 'log', 'debug', 'verbose'];

/** Nest's own level filter, in step with the pino level (see src/logging/logging.ts). */
export function logLevels(level: AppConfig['LOG_LEVEL']): LogLevel[] | false {
  if (level === 'silent') return false;
  return LEVELS.slice(0, LEVELS.indexOf(level) + 1);
}

export function buildOpenApi(app: NestFastifyApplication): OpenAPIObject {
  const doc = new DocumentBuilder()
    .setTitle('Consent Gate')
    .setDescription(
      'Self-hosted consent management for Sinch Conversation API messaging: opt-out lists, send checks with PRIMARY/SECONDARY modes, an append-only audit trail, and Sinch-compatible consents endpoints. Errors use Sinch\'s body: {"error":{"code","message","status","details"}}.',
    )
    .setVersion('0.1.0')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        description: 'An API key secret, ADMIN_API_KEY, or an access token from POST /oauth2/token',
      },
      'bearer',
    )
    .addBasicAuth(
      { type: 'http', scheme: 'basic', description: 'key_id:key_secret, for POST /oauth2/token' },
      'basic',
    )
    .build();
  return SwaggerModule.createDocument(app, doc, {
    operationIdFactory: (_controllerKey, methodKey) => methodKey,
  });
}

/** Builds the configured application (not yet listening). Used by main.ts and the tests. */
export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  // The send check answers from in front of Fastify (see CheckFastPath).
  const hotPaths = new HotPaths();
  const adapter = new FastifyAdapter({
    bodyLimit: config.BODY_LIMIT_BYTES,
    // Identities travel in paths; allow long ones (up to 256 chars, URL-encoded).
    routerOptions: { maxParamLength: 1024 },
    serverFactory: hotPaths.serverFactory,
    // A URL Fastify's router cannot decode (e.g. a lone surrogate's bytes): our 400, not its own.
    frameworkErrors: (e: { code?: string }, _req: unknown, reply: FastifyReply) => {
      const error = ApiError.field(
        '',
        e.code === 'FST_ERR_BAD_URL'
          ? 'the URL is not a valid percent-encoded UTF-8 path'
          : 'the request cannot be routed',
      );
      void reply.code(error.httpStatus).send(toErrorBody(error));
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, hotPaths),
    adapter,
    {
      logger: logLevels(config.LOG_LEVEL),
      // Boot logs wait for pino (below), so that every line is JSON.
      bufferLogs: true,
      abortOnError: false,
      // Webhook signatures are computed on the exact bytes received.
      rawBody: true,
    },
  );
  // Every JSON body goes through the one guard (depth, NUL, lone surrogates; see json-body.ts).
  app.useBodyParser(
    'application/json',
    { bodyLimit: config.BODY_LIMIT_BYTES },
    async (_req: unknown, body: Buffer) => parseJsonBody(body),
  );
  // Import files are streamed (up to IMPORT_MAX_BYTES, counted by ImportsService): their parser
  // leaves the body unread for the controller, which reads request.raw.
  app
    .getHttpAdapter()
    .getInstance()
    .addContentTypeParser(Object.keys(IMPORT_MEDIA_TYPES), (_req, _payload, done) =>
      done(null, undefined),
    );
  // Every `new Logger(...)` of @nestjs/common now writes through pino (nestjs-pino).
  // Nest's per-module and per-route boot lines go to debug (QuietBootLogger).
  app.useLogger(
    config.LOG_LEVEL === 'silent' ? false : new QuietBootLogger(app.get(PinoNestLogger)),
  );
  // SIGTERM / SIGINT: startServer installs the graceful shutdown (src/shutdown.ts); in-process
  // users (the tests) close the application themselves.
  if (config.SWAGGER_ENABLED) {
    SwaggerModule.setup('docs', app, () => buildOpenApi(app), { jsonDocumentUrl: 'docs-json' });
  }
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  // First run: with no admin access configured, one bootstrap admin key (see BootstrapAdminKey).
  await app.get(BootstrapAdminKey).ensure();
  return app;
}

export async function startServer(config: AppConfig): Promise<NestFastifyApplication> {
  const app = await createApp(config);
  await app.listen({ port: config.PORT, host: config.HOST });
  installGracefulShutdown(app, config.SHUTDOWN_TIMEOUT_MS);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const logger = new Logger('Bootstrap');
  const admin = app.get(BootstrapAdminKey).status!;
  for (const line of bootSummary(config, port, admin)) {
    if (line.level === 'warn') logger.warn(line.message);
    else logger.log(line.message);
  }
  return app;
}
