import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { EmbeddedPostgres } from '../src/database/embedded-postgres.js';

/**
 * The embedded server multiplexes many connections onto one PGlite backend. Parameterised
 * statements (extended protocol) from concurrent connections must not interleave, transactions
 * must stay isolated, and a failing statement must not stall the others.
 */
describe('embedded PostgreSQL under concurrent connections', () => {
  const embedded = new EmbeddedPostgres();
  let url: string;

  beforeAll(async () => {
    url = await embedded.start('memory://', 12);
  });
  afterAll(() => embedded.stop());

  it('runs interleaved parameterised statements, transactions and errors correctly', async () => {
    const pool = new pg.Pool({ connectionString: url, max: 8 });
    try {
      await pool.query('CREATE TABLE t (k int PRIMARY KEY, v text)');
      const work = Array.from({ length: 8 }, async (_, worker) => {
        for (let i = 0; i < 40; i++) {
          const n = worker * 1000 + i;
          const r = await pool.query('SELECT $1::int + 1 AS n, $2::text AS s', [n, `w${worker}`]);
          expect(r.rows[0]).toEqual({ n: n + 1, s: `w${worker}` });
          if (i % 10 === 0) {
            await expect(pool.query('SELECT 1 / $1::int', [0])).rejects.toThrow(/division by zero/);
          }
          if (i % 5 === 0) {
            const client = await pool.connect();
            try {
              await client.query('BEGIN');
              await client.query('INSERT INTO t (k, v) VALUES ($1, $2)', [n, 'x']);
              if (i % 10 === 0) await client.query('ROLLBACK');
              else await client.query('COMMIT');
            } finally {
              client.release();
            }
          }
        }
      });
      await Promise.all(work);
      const { rows } = await pool.query('SELECT count(*)::int AS n FROM t');
      // Per worker, i in 0..39 with i % 5 === 0 inserts (8 rows), of which i % 10 === 0 roll back (4).
      expect(rows[0].n).toBe(8 * 4);
    } finally {
      await pool.end();
    }
  });
});
