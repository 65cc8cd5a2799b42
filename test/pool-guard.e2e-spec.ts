import { describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { guardClientErrors } from '../src/database/database.module.js';

describe('guardClientErrors', () => {
  it('a checked-out client whose connection drops fails its queries instead of the process', async () => {
    const pool = guardClientErrors(
      new pg.Pool({ connectionString: process.env.TEST_DATABASE_URL, max: 1 }),
    );
    try {
      const client = await pool.connect();
      // pg-pool removed its own idle listener on checkout: this one is the guard's.
      expect(client.listenerCount('error')).toBe(1);
      const lost = new Promise<Error>((resolve) => client.once('error', resolve));
      // The connection drops while the client is checked out (as when the database restarts).
      (
        client as unknown as { connection: { stream: { destroy(): void } } }
      ).connection.stream.destroy();
      expect((await lost).message).toMatch(/terminated/i);
      await expect(client.query('SELECT 1')).rejects.toThrow();
      client.release(true);
      // The pool replaces the broken client.
      const { rows } = await pool.query<{ one: number }>('SELECT 1 AS one');
      expect(rows[0]!.one).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('equips each client once, however often it is checked out', async () => {
    const pool = guardClientErrors(
      new pg.Pool({ connectionString: process.env.TEST_DATABASE_URL, max: 1 }),
    );
    try {
      for (let i = 0; i < 3; i++) {
        const client = await pool.connect();
        expect(client.listenerCount('error')).toBe(1);
        client.release();
      }
    } finally {
      await pool.end();
    }
  });
});
