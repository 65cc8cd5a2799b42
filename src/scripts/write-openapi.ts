import { readFileSync, writeFileSync } from 'node:fs';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { loadConfig } from '../config/app-config.js';
import { AppModule } from '../app.module.js';
import { buildOpenApi } from '../bootstrap.js';

/**
 * Writes openapi.json from the DTOs without a database (preview mode), or with --check fails
 * when the committed file differs from what the code generates.
 */
const check = process.argv.includes('--check');
const app = await NestFactory.create<NestFastifyApplication>(
  AppModule.forRoot(loadConfig({ DATA_DIR: 'memory://' })),
  new FastifyAdapter(),
  { preview: true, logger: false },
);
const spec = `${JSON.stringify(buildOpenApi(app), null, 2)}\n`;
await app.close();
if (check) {
  let committed = '';
  try {
    committed = readFileSync('openapi.json', 'utf8');
  } catch {
    // missing file counts as a difference
  }
  if (committed !== spec) {
    process.stderr.write('openapi.json is out of date: run `npm run openapi` and commit it.\n');
    process.exit(1);
  }
  process.stdout.write('openapi.json is up to date\n');
} else {
  writeFileSync('openapi.json', spec);
  process.stdout.write('wrote openapi.json\n');
}
