import pg from 'pg';

export default async function globalTeardown() {
  const db = globalThis.__TEST_DB__;
  if (!db) return;
  if (db.kind === 'embedded') {
    await db.embedded.stop();
    return;
  }
  const admin = new pg.Client({ connectionString: db.adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
