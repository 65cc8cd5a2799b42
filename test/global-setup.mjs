// Runs once before the whole suite (in jest's parent process), against the BUILT code in dist/
// (`npm test` builds first). It prepares one migrated database for this run and hands its URL to
// every test file through TEST_DATABASE_URL:
// - DATABASE_URL set: a fresh database on that server, named per run, dropped afterwards;
// - otherwise: the embedded default (PGlite served on a loopback port), in memory.
import pg from 'pg';
import { DataSource } from 'typeorm';
import { loadConfig } from '../dist/src/config/app-config.js';
import { EmbeddedPostgres } from '../dist/src/database/embedded-postgres.js';
import { buildDataSourceOptions } from '../dist/src/database/typeorm-options.js';

export default async function globalSetup() {
  const config = loadConfig({ ...process.env, DATA_DIR: 'memory://' });
  let url;
  if (process.env.DATABASE_URL) {
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    const name = `consent_gate_test_${Date.now()}_${process.pid}`;
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const u = new URL(process.env.DATABASE_URL);
    u.pathname = `/${name}`;
    url = u.toString();
    globalThis.__TEST_DB__ = { kind: 'postgres', name, adminUrl: process.env.DATABASE_URL };
  } else {
    const embedded = new EmbeddedPostgres();
    url = await embedded.start('memory://', 60);
    globalThis.__TEST_DB__ = { kind: 'embedded', embedded };
  }
  const ds = new DataSource(buildDataSourceOptions(config, url));
  await ds.initialize();
  await ds.runMigrations();
  await ds.destroy();
  process.env.TEST_DATABASE_URL = url;
  process.stdout.write(
    `\n[test] database: ${globalThis.__TEST_DB__.kind} (${url.replace(/\/\/[^@]*@/, '//')})\n`,
  );
}
