import { createPrivateKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { plainToInstance } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  MinLength,
  validateSync,
} from 'class-validator';

/**
 * Every environment variable the service reads, validated once at boot.
 * The README's configuration table documents the same list; keep them in step.
 */
export class AppConfig {
  /** HTTP port. */
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  /** Interface to bind. */
  @IsString()
  HOST = '0.0.0.0';

  /** PostgreSQL connection string. Unset: run on the embedded PostgreSQL (PGlite) in DATA_DIR. */
  @IsOptional()
  @IsString()
  DATABASE_URL?: string;

  /** Where the embedded PostgreSQL keeps its files. `memory://` keeps nothing. */
  @IsString()
  @MinLength(1)
  DATA_DIR = './data';

  /** Connections in the pool to PostgreSQL. */
  @IsInt()
  @Min(1)
  @Max(200)
  DATABASE_POOL_SIZE = 10;

  /** How long to wait for a free connection / a new connection before failing with 503. */
  @IsInt()
  @Min(100)
  DATABASE_CONNECT_TIMEOUT_MS = 3000;

  /** Server-side statement timeout; a query running longer fails (503). */
  @IsInt()
  @Min(100)
  DATABASE_STATEMENT_TIMEOUT_MS = 15000;

  /**
   * An export (GET ...:export) whose client has not taken any data for this long is cut: its
   * database connection goes back to the pool (discarded) instead of waiting on the client.
   */
  @IsInt()
  @Min(1000)
  EXPORT_STALL_TIMEOUT_MS = 60000;

  /** Exports streaming at once on this instance (each holds a pool connection); more: 429. */
  @IsInt()
  @Min(1)
  @Max(50)
  EXPORT_MAX_CONCURRENT = 2;

  /** Run pending migrations at boot. */
  @IsBoolean()
  MIGRATIONS_RUN = true;

  /**
   * An admin bearer token (scope admin, 16+ characters). Unset: the first boot with no admin key in
   * the database creates the bootstrap admin key (see BOOTSTRAP_KEY_FILE).
   */
  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'ADMIN_API_KEY must be at least 16 characters' })
  ADMIN_API_KEY?: string;

  /**
   * Where the bootstrap admin key's secret is written (mode 0600) when the service first boots
   * with no ADMIN_API_KEY and no admin key in the database. Unset: `<DATA_DIR>/bootstrap-admin-key`
   * (also on PostgreSQL); with `DATA_DIR=memory://` no file and no bootstrap key.
   */
  @IsOptional()
  @IsString()
  @MinLength(1)
  BOOTSTRAP_KEY_FILE?: string;

  /** HMAC key for OAuth2 access tokens (JWT HS256). Unset: generated once and kept in the database. */
  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'TOKEN_SIGNING_SECRET must be at least 32 characters' })
  TOKEN_SIGNING_SECRET?: string;

  /** Lifetime of access tokens from POST /oauth2/token. */
  @IsInt()
  @Min(300, {
    message: 'TOKEN_TTL_SECONDS must be at least 300 (the Sinch SDK renews tokens 60 s before exp)',
  })
  @Max(86400)
  TOKEN_TTL_SECONDS = 3600;

  /** How long a verified API key stays cached in memory (revocation takes up to this long). */
  @IsInt()
  @Min(0)
  @Max(300000)
  AUTH_CACHE_TTL_MS = 10000;

  /** How long an app's consent settings stay cached in memory per instance. */
  @IsInt()
  @Min(0)
  @Max(300000)
  SETTINGS_CACHE_TTL_MS = 5000;

  /** Mode of an app that has no consent settings. */
  @IsIn(['PRIMARY', 'SECONDARY'])
  DEFAULT_MODE: 'PRIMARY' | 'SECONDARY' = 'PRIMARY';

  /** Largest accepted request body, in bytes (413 above it). */
  @IsInt()
  @Min(1024)
  @Max(64 * 1024 * 1024)
  BODY_LIMIT_BYTES = 2 * 1024 * 1024;

  /** Serve Swagger UI at /docs and the spec at /docs-json. */
  @IsBoolean()
  SWAGGER_ENABLED = true;

  /**
   * Least severe level logged: error, warn, log, debug, verbose (or silent). Mapped onto pino's
   * error, warn, info, debug, trace.
   */
  @IsIn(['error', 'warn', 'log', 'debug', 'verbose', 'silent'])
  LOG_LEVEL: 'error' | 'warn' | 'log' | 'debug' | 'verbose' | 'silent' = 'log';

  /**
   * Log one line per HTTP request handled by Fastify (pino-http, level info). Off by default: the
   * send check is a hot path. Plain consents:check requests are answered before Fastify and are
   * never logged this way.
   */
  @IsBoolean()
  LOG_HTTP_REQUESTS = false;

  /** Longest wait for the database ping of GET /health and /health/ready (then 503). */
  @IsInt()
  @Min(100)
  @Max(60000)
  HEALTH_CHECK_TIMEOUT_MS = 1000;

  /** Sinch project whose credentials send replies (messages:send). */
  @IsOptional()
  @IsString()
  SINCH_PROJECT_ID?: string;

  /** Sinch access key id (OAuth2 client id). */
  @IsOptional()
  @IsString()
  SINCH_KEY_ID?: string;

  /** Sinch access key secret (OAuth2 client secret). */
  @IsOptional()
  @IsString()
  SINCH_KEY_SECRET?: string;

  /** Sinch Conversation API region: us, eu or br. */
  @IsIn(['us', 'eu', 'br'])
  SINCH_REGION: 'us' | 'eu' | 'br' = 'us';

  /** Overrides the region's Conversation API base URL (e.g. a local fake in tests). */
  @IsOptional()
  @IsString()
  SINCH_CONVERSATION_URL?: string;

  /** Overrides the OAuth2 host (default https://auth.sinch.com). */
  @IsOptional()
  @IsString()
  SINCH_AUTH_URL?: string;

  /** Accepted clock skew of webhook signature timestamps, in seconds (replays are refused). */
  @IsInt()
  @Min(10)
  @Max(3600)
  WEBHOOK_TIMESTAMP_WINDOW_S = 300;

  /** Timeout of one call to Sinch (token or messages:send). */
  @IsInt()
  @Min(100)
  @Max(120000)
  SINCH_TIMEOUT_MS = 10000;

  /** Run the job workers (confirmation replies, callbacks) in this instance. */
  @IsBoolean()
  OUTBOX_WORKER_ENABLED = true;

  /** How often each job worker looks for due jobs. */
  @IsInt()
  @Min(10)
  @Max(60000)
  OUTBOX_POLL_INTERVAL_MS = 1000;

  /** Jobs each job worker (replies, callbacks) keeps in flight at most. */
  @IsInt()
  @Min(1)
  @Max(1000)
  OUTBOX_BATCH_SIZE = 20;

  /** First retry delay of a failed reply; doubles per attempt up to REPLY_RETRY_MAX_MS. */
  @IsInt()
  @Min(10)
  REPLY_RETRY_BASE_MS = 5000;

  /** Longest delay between two attempts of a reply. */
  @IsInt()
  @Min(10)
  REPLY_RETRY_MAX_MS = 600000;

  /** A reply not delivered this long after the inbound message is given up (marked FAILED). */
  @IsInt()
  @Min(1)
  @Max(7 * 86400)
  REPLY_GIVE_UP_AFTER_S = 3600;

  /** First retry delay of a failed callback delivery; doubles per attempt up to CALLBACK_RETRY_MAX_MS. */
  @IsInt()
  @Min(10)
  @Max(86400000)
  CALLBACK_RETRY_BASE_MS = 5000;

  /** Longest delay between two attempts of a callback delivery. */
  @IsInt()
  @Min(10)
  @Max(86400000)
  CALLBACK_RETRY_MAX_MS = 3600000;

  /** A callback not delivered this long after its event is given up (GAVE_UP). */
  @IsInt()
  @Min(1)
  @Max(30 * 86400)
  CALLBACK_GIVE_UP_AFTER_S = 86400;

  /** Timeout of one callback delivery (connect, send, and the response headers). */
  @IsInt()
  @Min(100)
  @Max(120000)
  CALLBACK_TIMEOUT_MS = 10000;

  /**
   * Days a processed webhook delivery (its idempotency record) is kept. At least 2: a redelivery
   * Sinch makes within its retry horizon (undocumented for the Conversation API; about 23 h for
   * the SMS API) must still find it and answer DUPLICATE.
   */
  @IsInt()
  @Min(2)
  @Max(3650)
  WEBHOOK_DELIVERY_RETENTION_DAYS = 30;

  /** Days a finished job (SENT, FAILED, IN_DOUBT) and the callback delivery log are kept. */
  @IsInt()
  @Min(1)
  @Max(3650)
  JOB_RETENTION_DAYS = 30;

  /**
   * The Ed25519 key that signs audit checkpoints: PKCS#8 PEM, or the base64 of its DER. Unset:
   * generated once and kept in the database (service_secrets).
   */
  @IsOptional()
  @IsString()
  AUDIT_SIGNING_KEY?: string;

  /**
   * How often the service signs a checkpoint of every app whose audit chain grew since its last
   * checkpoint (one instance at a time); 0: only on demand (POST .../audit:checkpoint).
   */
  @IsInt()
  @Min(0)
  @Max(604800)
  AUDIT_CHECKPOINT_INTERVAL_S = 3600;

  /** How often each instance deletes what is past its retention. */
  @IsInt()
  @Min(1)
  @Max(86400)
  RETENTION_INTERVAL_S = 3600;

  /** Rows one retention statement deletes at most (it repeats until none are left). */
  @IsInt()
  @Min(1)
  @Max(100000)
  RETENTION_BATCH_SIZE = 1000;

  /** Largest import file (POST .../imports), in bytes: 413 above it, nothing stored. */
  @IsInt()
  @Min(1024)
  @Max(64 * 1024 * 1024 * 1024)
  IMPORT_MAX_BYTES = 256 * 1024 * 1024;

  /**
   * Import uploads streaming in at once on this instance (each holds a pool connection while its
   * body arrives); more: 429 with Retry-After.
   */
  @IsInt()
  @Min(1)
  @Max(50)
  IMPORT_MAX_CONCURRENT = 2;

  /** Staged rows an import job applies per transaction (its chunk). */
  @IsInt()
  @Min(1)
  @Max(100000)
  IMPORT_CHUNK_ROWS = 5000;

  /**
   * Transactions that apply one import side by side (its parts: ranges of keys, each identity
   * and list in one; an import of fewer than this many chunks has fewer parts), each holding a
   * pool connection and an audit chain lane while it runs. On the 2-core bench machine 2 apply
   * 1,000,000 rows 1.5 times as fast as 1, and 4 are slower than 2 (bench/README.md).
   */
  @IsInt()
  @Min(1)
  @Max(8)
  IMPORT_APPLY_PARTS = 2;

  /**
   * How long a claimed import job stays reserved without news from its worker (renewed before
   * every chunk): after a crash, another worker resumes the import this long after the last chunk.
   */
  @IsInt()
  @Min(1000)
  @Max(3600000)
  IMPORT_JOB_LEASE_MS = 60000;

  /**
   * On SIGTERM (or SIGINT), how long the service may take to finish the HTTP requests in flight
   * and the running jobs and close the database: past it, it exits with code 1 at once.
   */
  @IsInt()
  @Min(1000)
  @Max(600000)
  SHUTDOWN_TIMEOUT_MS = 10000;

  /** Identity salt for logs: identities are logged only as a short salted hash. */
  @IsString()
  @MaxLength(200)
  LOG_HASH_SALT = 'consent-gate';
}

const BOOLEAN_KEYS = new Set([
  'MIGRATIONS_RUN',
  'SWAGGER_ENABLED',
  'OUTBOX_WORKER_ENABLED',
  'LOG_HTTP_REQUESTS',
]);
const INTEGER_KEYS = new Set([
  'PORT',
  'DATABASE_POOL_SIZE',
  'DATABASE_CONNECT_TIMEOUT_MS',
  'DATABASE_STATEMENT_TIMEOUT_MS',
  'EXPORT_STALL_TIMEOUT_MS',
  'EXPORT_MAX_CONCURRENT',
  'TOKEN_TTL_SECONDS',
  'AUTH_CACHE_TTL_MS',
  'SETTINGS_CACHE_TTL_MS',
  'BODY_LIMIT_BYTES',
  'WEBHOOK_TIMESTAMP_WINDOW_S',
  'SINCH_TIMEOUT_MS',
  'OUTBOX_POLL_INTERVAL_MS',
  'OUTBOX_BATCH_SIZE',
  'REPLY_RETRY_BASE_MS',
  'REPLY_RETRY_MAX_MS',
  'REPLY_GIVE_UP_AFTER_S',
  'CALLBACK_RETRY_BASE_MS',
  'CALLBACK_RETRY_MAX_MS',
  'CALLBACK_GIVE_UP_AFTER_S',
  'CALLBACK_TIMEOUT_MS',
  'HEALTH_CHECK_TIMEOUT_MS',
  'WEBHOOK_DELIVERY_RETENTION_DAYS',
  'JOB_RETENTION_DAYS',
  'RETENTION_INTERVAL_S',
  'AUDIT_CHECKPOINT_INTERVAL_S',
  'RETENTION_BATCH_SIZE',
  'IMPORT_MAX_BYTES',
  'IMPORT_MAX_CONCURRENT',
  'IMPORT_CHUNK_ROWS',
  'IMPORT_APPLY_PARTS',
  'IMPORT_JOB_LEASE_MS',
  'SHUTDOWN_TIMEOUT_MS',
]);

/** Variables with no default (so not among the keys of a fresh AppConfig). */
const OPTIONAL_KEYS = [
  'DATABASE_URL',
  'ADMIN_API_KEY',
  'BOOTSTRAP_KEY_FILE',
  'TOKEN_SIGNING_SECRET',
  'AUDIT_SIGNING_KEY',
  'SINCH_PROJECT_ID',
  'SINCH_KEY_ID',
  'SINCH_KEY_SECRET',
  'SINCH_CONVERSATION_URL',
  'SINCH_AUTH_URL',
];

/** Every environment variable the service reads (for tools that must clear or document them). */
export function configKeys(): string[] {
  return [...new Set(Object.keys(new AppConfig()).concat(OPTIONAL_KEYS))];
}

export class ConfigError extends Error {}

/**
 * Loads `.env` (see .env.example) from the working directory into process.env, when there is one:
 * a variable already set in the environment keeps its value. For the service and its CLIs.
 */
export function loadDotEnv(path = '.env', env: NodeJS.ProcessEnv = process.env): boolean {
  if (!existsSync(path)) return false;
  for (const [key, value] of Object.entries(parseEnv(readFileSync(path, 'utf8')))) {
    if (env[key] === undefined && value !== undefined) env[key] = value;
  }
  return true;
}

function coerce(key: string, value: string): unknown {
  if (BOOLEAN_KEYS.has(key)) {
    if (/^(true|1|yes)$/i.test(value)) return true;
    if (/^(false|0|no)$/i.test(value)) return false;
    return value;
  }
  if (INTEGER_KEYS.has(key)) {
    return /^-?\d+$/.test(value) ? Number(value) : value;
  }
  return value;
}

/** Reads and validates the configuration; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const raw: Record<string, unknown> = {};
  for (const key of configKeys()) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = coerce(key, value);
  }
  const config = plainToInstance(AppConfig, raw, { exposeDefaultValues: true });
  const errors = validateSync(config, { whitelist: true });
  const lines = errors.map(
    (e) => `${e.property}: ${Object.values(e.constraints ?? {}).join('; ')}`,
  );
  if (typeof config.AUDIT_SIGNING_KEY === 'string') {
    const problem = ed25519KeyProblem(config.AUDIT_SIGNING_KEY);
    if (problem) lines.push(`AUDIT_SIGNING_KEY: ${problem}`);
  }
  if (lines.length > 0) {
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return config;
}

/** Why `text` is not an Ed25519 private key as PKCS#8 PEM or base64 DER, or null when it is. */
export function ed25519KeyProblem(text: string): string | null {
  let key: KeyObject;
  try {
    key = text.includes('-----BEGIN')
      ? createPrivateKey(text)
      : createPrivateKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'pkcs8' });
  } catch {
    return 'not a PKCS#8 private key (PEM, or base64 of the DER)';
  }
  return key.asymmetricKeyType === 'ed25519'
    ? null
    : `an ${key.asymmetricKeyType} key; it must be Ed25519`;
}
