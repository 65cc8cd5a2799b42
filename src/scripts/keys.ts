import { parseArgs } from 'node:util';
import { NestFactory } from '@nestjs/core';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { AppModule } from '../app.module.js';
import { ApiError } from '../common/api-error.js';
import { AppConfig, ConfigError, loadConfig, loadDotEnv } from '../config/app-config.js';
import { DataDirLockedError } from '../database/data-dir-lock.js';
import { ApiKeyService } from '../auth/api-key.service.js';
import { bootstrapKeyFile } from '../auth/bootstrap-admin-key.js';
import { CreateApiKeyRequestDto } from '../auth/dto/api-key.dto.js';
import { curlWithKeyFile, localUrl } from '../boot-summary.js';

/**
 * `npm run keys -- create --name NAME --scopes read,write[,admin]` | `list` | `revoke KEY_ID`:
 * API keys, against the database of the environment (the service's own configuration, `.env`
 * included), through the same ApiKeyService as /v1/api-keys. `create` prints the secret once (it
 * is stored only as a hash). On PostgreSQL it may run beside the service (a revocation reaches
 * the running instances through the configuration cache's notifications); the embedded database
 * is one process's at a time, so while a service holds DATA_DIR this refuses and says what to do.
 * Exit 0 on success, 1 on a failure, 2 on a usage error.
 */
const USAGE = `usage: npm run keys -- create --name NAME --scopes read,write[,admin]
       npm run keys -- list
       npm run keys -- revoke KEY_ID
`;
/** created_by of the keys this command mints. */
const ACTOR = 'cli';

function usage(message: string): never {
  process.stderr.write(`${message}\n${USAGE}`);
  process.exit(2);
}

function parse() {
  return parseArgs({
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      scopes: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
}
let args: ReturnType<typeof parse>;
try {
  args = parse();
} catch (e) {
  usage((e as Error).message);
}
if (args.values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const [command, ...rest] = args.positionals;
let createDto: CreateApiKeyRequestDto | undefined;
let revokeId: string | undefined;
if (command === 'create') {
  if (rest.length > 0) usage(`create takes no positional argument (got ${rest.join(' ')})`);
  if (args.values.name === undefined) usage('create needs --name NAME');
  if (args.values.scopes === undefined) usage('create needs --scopes (e.g. --scopes read,write)');
  createDto = plainToInstance(CreateApiKeyRequestDto, {
    name: args.values.name,
    scopes: args.values.scopes.split(',').map((s) => s.trim()),
  });
  const errors = validateSync(createDto);
  if (errors.length > 0)
    usage(errors.flatMap((e) => Object.values(e.constraints ?? {})).join('; '));
} else if (command === 'revoke') {
  if (rest.length !== 1) usage('revoke needs exactly one KEY_ID');
  revokeId = rest[0];
} else if (command === 'list') {
  if (rest.length > 0) usage('list takes no argument');
} else {
  usage(command ? `unknown command ${command}` : 'give a command');
}

let config: AppConfig;
try {
  loadDotEnv();
  // Nothing runs in the background of this process.
  config = loadConfig({ ...process.env, OUTBOX_WORKER_ENABLED: 'false' });
} catch (e) {
  if (e instanceof ConfigError) usage(e.message);
  throw e;
}

// Nest's logger is off: every failure is reported below, in a sentence.
const app = await NestFactory.createApplicationContext(AppModule.forRoot(config), {
  logger: false,
  abortOnError: false,
}).catch((e: unknown) => {
  if (e instanceof DataDirLockedError) {
    process.stderr.write(`${heldMessage(config, e)}\n`);
    process.exit(1);
  }
  throw e;
});

let exitCode = 0;
try {
  const keys = app.get(ApiKeyService);
  if (createDto) {
    const key = await keys.create(createDto, { keyId: ACTOR, scopes: [] });
    process.stderr.write(
      `created API key "${key.name}" (scopes ${key.scopes.join(',')}); the secret is shown this once and stored only as a hash:\n`,
    );
    process.stdout.write(`key_id=${key.key_id}\nkey_secret=${key.key_secret}\n`);
  } else if (revokeId) {
    const key = await keys.revoke(revokeId);
    process.stdout.write(`revoked ${key.key_id} "${key.name}" at ${key.revoked_at}\n`);
  } else {
    const list = await keys.list();
    if (list.length === 0) process.stderr.write('no API keys\n');
    for (const k of list)
      process.stdout.write(
        `${k.key_id}  ${k.revoked_at ? `revoked ${k.revoked_at}` : 'active'}  ${k.scopes.join(',')}  ${k.name}  (created ${k.created_at})\n`,
      );
  }
} catch (e) {
  process.stderr.write(`${e instanceof ApiError || e instanceof Error ? e.message : String(e)}\n`);
  exitCode = 1;
} finally {
  await app.close();
}
process.exit(exitCode);

/** What to do when a running service holds the embedded database. */
function heldMessage(config: AppConfig, e: DataDirLockedError): string {
  const url = localUrl(config.HOST, config.PORT);
  const file = bootstrapKeyFile(config);
  return [
    `The embedded database in ${e.dir} is in use by a running Consent Gate (pid ${e.pid} on ${e.host}); only one process may open it, so this command cannot.`,
    "Either use the running service's API with an admin key (the bootstrap key, ADMIN_API_KEY, or another admin key), e.g.:",
    `  curl -s -X POST ${url}/v1/api-keys -H "Authorization: Bearer ${file ? `$(cat ${file})` : '$ADMIN_KEY'}" \\`,
    `    -H 'content-type: application/json' -d '{"name":"my-service","scopes":["read","write"]}'`,
    file ? `  (to list keys: ${curlWithKeyFile(url, file)})` : '',
    'or stop the service and run this command again.',
  ]
    .filter((l) => l !== '')
    .join('\n');
}
