import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { AppConfig } from './config/app-config.js';
import type { AdminKeyStatus } from './auth/bootstrap-admin-key.js';

export interface SummaryLine {
  level: 'log' | 'warn';
  message: string;
}

/** The command that mints an admin key from a shell (see src/scripts/keys.ts). */
export const KEYS_CLI_ADMIN = 'npm run keys -- create --name admin --scopes admin';

/** A PostgreSQL URL fit for logs: user, host, port and database; never a password or parameters. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    const user = u.username ? `${decodeURIComponent(u.username)}@` : '';
    return `${u.protocol}//${user}${u.host}${u.pathname}`;
  } catch {
    return '(a connection string that is not a URL; not shown)';
  }
}

/** The URL a local user types: `localhost` for a wildcard bind. */
export function localUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' || host === '' ? 'localhost' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/** A path as one shell word (quoted when it needs to be; no double quotes: logs are JSON). */
function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}

/** A ready-to-paste call with the secret read from `file` (never the secret itself). */
export function curlWithKeyFile(url: string, file: string): string {
  return `curl -s --oauth2-bearer $(cat ${shellWord(file)}) ${url}/v1/api-keys`;
}

function adminLines(status: AdminKeyStatus, url: string): SummaryLine[] {
  switch (status.kind) {
    case 'env':
      return [
        {
          level: 'log',
          message: `Admin: ADMIN_API_KEY is the admin bearer token. Next: mint scoped keys with POST ${url}/v1/api-keys (README: First run)`,
        },
      ];
    case 'admin-keys':
      return [
        {
          level: 'log',
          message: `Admin: ${status.count} admin API key(s) in the database. Next: mint scoped keys with POST ${url}/v1/api-keys (README: First run)`,
        },
      ];
    case 'created':
    case 'bootstrap':
      if (status.kind === 'created' || status.fileState === 'ok') {
        return [
          {
            level: 'log',
            message:
              `Admin: ${status.kind === 'created' ? 'created the' : 'the'} bootstrap admin key ${status.keyId}; its secret is in ${status.file} (mode 0600, shown nowhere else). ` +
              `Next: ${curlWithKeyFile(url, status.file)} then mint scoped keys with POST /v1/api-keys (README: First run)`,
          },
        ];
      }
      return [
        {
          level: 'warn',
          message:
            `Admin: the bootstrap admin key ${status.keyId} is the only admin key, and ${status.file} ` +
            `${status.fileState === 'missing' ? 'is gone' : 'holds another secret'}` +
            `${status.host && status.host !== hostname() ? ` (it was written on host ${status.host})` : ''}; ` +
            `no new key is made. Use another admin key, or create one with: ${KEYS_CLI_ADMIN} (on the embedded database stop the service first), then revoke ${status.keyId}`,
        },
      ];
    case 'none':
      return [
        {
          level: 'warn',
          message:
            status.reason === 'revoked'
              ? `Admin: no admin key is active (all were revoked), so every /v1 call is 401. Create one with: ${KEYS_CLI_ADMIN} (on the embedded database stop the service first), or set ADMIN_API_KEY`
              : `Admin: no admin key, and no bootstrap key with DATA_DIR=memory://, so every /v1 call is 401. Set ADMIN_API_KEY (16+ characters) or BOOTSTRAP_KEY_FILE`,
        },
      ];
  }
}

/**
 * The boot summary: a few human-readable lines (URL, Swagger, console, database, defaults, Sinch, admin
 * access and what to do next). Never a secret: database URLs are redacted, keys are named by id
 * and file.
 */
export function bootSummary(config: AppConfig, port: number, admin: AdminKeyStatus): SummaryLine[] {
  const url = localUrl(config.HOST, port);
  const lines: SummaryLine[] = [
    { level: 'log', message: `Consent Gate listening on ${url} (bound to ${config.HOST}:${port})` },
    {
      level: 'log',
      message: config.SWAGGER_ENABLED
        ? `Swagger UI: ${url}/docs (OpenAPI JSON at ${url}/docs-json)`
        : 'Swagger UI: off (SWAGGER_ENABLED=false)',
    },
    {
      level: 'log',
      message: `Compliance console: ${url}/console (sign in with an API key: read looks, write imports, admin erases and redelivers)`,
    },
    {
      level: 'log',
      message: config.DATABASE_URL
        ? `Database: PostgreSQL at ${redactDatabaseUrl(config.DATABASE_URL)}`
        : config.DATA_DIR === 'memory://'
          ? 'Database: embedded PostgreSQL (PGlite) in memory: nothing is kept after exit'
          : `Database: embedded PostgreSQL (PGlite), data in ${resolve(config.DATA_DIR)} (one process at a time; set DATABASE_URL for a PostgreSQL server)`,
    },
    {
      level: 'log',
      message: `Defaults: apps with no settings are in ${config.DEFAULT_MODE} mode (${
        config.DEFAULT_MODE === 'PRIMARY'
          ? 'a check blocks opted-out identities'
          : 'a check only reports opt-outs, never blocks'
      }; DEFAULT_MODE), log level ${config.LOG_LEVEL}`,
    },
    config.SINCH_PROJECT_ID && config.SINCH_KEY_ID && config.SINCH_KEY_SECRET
      ? {
          level: 'log',
          message: `Sinch: configured (project ${config.SINCH_PROJECT_ID}, region ${config.SINCH_REGION})`,
        }
      : {
          level: 'warn',
          message:
            'Sinch: not configured (SINCH_PROJECT_ID, SINCH_KEY_ID, SINCH_KEY_SECRET): confirmation replies wait as retried jobs until REPLY_GIVE_UP_AFTER_S, and the send gate answers 503 to sends it would forward',
        },
    ...adminLines(admin, url),
  ];
  return lines;
}
