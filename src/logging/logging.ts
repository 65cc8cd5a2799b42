import { RequestMethod } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Params } from 'nestjs-pino';
import {
  type DestinationStream,
  type LevelWithSilent,
  type LoggerOptions,
  stdTimeFunctions,
} from 'pino';
import type { Options as PinoHttpOptions } from 'pino-http';
import { AppConfig } from '../config/app-config.js';
import { hashForLog } from '../common/log-safe.js';

const PINO_LEVELS: Record<AppConfig['LOG_LEVEL'], LevelWithSilent> = {
  silent: 'silent',
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

/** LOG_LEVEL (Nest's names) as a pino level: log is info, verbose is trace. */
export function pinoLevel(level: AppConfig['LOG_LEVEL']): LevelWithSilent {
  return PINO_LEVELS[level];
}

/**
 * What is never logged in clear, wherever it appears in a logged object: credentials, cookies,
 * webhook signatures, and bodies (which carry identities and message text). The serializers below
 * already leave headers and bodies out; this is the second line.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-sinch-webhook-signature"]',
  'req.headers["x-sinch-webhook-signature-nonce"]',
  'req.body',
  'req.raw',
  'res.headers["set-cookie"]',
  'res.body',
  'headers.authorization',
  'headers.cookie',
  'headers["x-sinch-webhook-signature"]',
  'body',
];

/**
 * A digit run that may be a phone number, as it appears in a raw (percent-encoded) path: 6 or more
 * digits, optionally after `+` (`%2B`), with spaces, dots, dashes or parentheses (plain or encoded)
 * between them.
 */
const PHONE_LIKE = /(?:\+|%2B)?\d(?:(?:[ .()-]|%20|%28|%29)*\d){5,}/gi;

function decodeOrRaw(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // Logged hashed as received.
  }
}

/**
 * A request URL fit for logs: no query string, the path segment after `identities` (a phone
 * number or another channel identity) replaced by the same salted hash the services log, and any
 * other phone-like digit run in the path (a mistyped route) hashed the same way.
 */
export function safeUrl(url: string | undefined, salt: string): string {
  if (!url) return '';
  const path = url.split('?', 1)[0]!;
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segments[i - 1] === 'identities' && segment) {
      segments[i] = `#${hashForLog(decodeOrRaw(segment), salt)}`;
    } else {
      segments[i] = segment.replace(PHONE_LIKE, (run) => `#${hashForLog(decodeOrRaw(run), salt)}`);
    }
  }
  return segments.join('/') + (path.length < url.length ? '?…' : '');
}

/** pino's options: level from LOG_LEVEL, ISO timestamps, level labels, redaction. */
export function pinoOptions(config: AppConfig): LoggerOptions {
  return {
    level: pinoLevel(config.LOG_LEVEL),
    timestamp: stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
  };
}

interface LoggedRequest {
  id?: unknown;
  method?: string;
  url?: string;
}

/** pino-http's options: a request is logged as id, method and a safe URL; a response as its status. */
export function pinoHttpOptions(config: AppConfig): PinoHttpOptions {
  const salt = config.LOG_HASH_SALT;
  return {
    ...pinoOptions(config),
    autoLogging: config.LOG_HTTP_REQUESTS,
    // Logs made while handling a request carry its id only, not the whole request.
    quietReqLogger: true,
    serializers: {
      req: (req: LoggedRequest) => ({
        id: req.id,
        method: req.method,
        url: safeUrl(req.url, salt),
      }),
      res: (res: { statusCode?: number }) => ({ status_code: res.statusCode }),
    },
    customLogLevel: (_req: IncomingMessage, res: ServerResponse, error?: Error) =>
      error || res.statusCode >= 500 ? 'error' : 'info',
  };
}

/**
 * nestjs-pino's parameters. JSON lines to stdout (or `destination`, for tests). The request
 * middleware (request ids, one line per request) is mounted only with LOG_HTTP_REQUESTS: without
 * it a request costs no logging work at all.
 *
 * nestjs-pino keeps one root logger per process, built by the first application: a second
 * application in the same process (tests) logs through the first one's logger.
 */
export function loggerParams(config: AppConfig, destination?: DestinationStream): Params {
  const options = pinoHttpOptions(config);
  return {
    pinoHttp: destination ? [options, destination] : options,
    // `*path` rather than nestjs-pino's default route, which Fastify's middleware never matches here.
    forRoutes: config.LOG_HTTP_REQUESTS ? [{ path: '*path', method: RequestMethod.ALL }] : [],
  };
}
