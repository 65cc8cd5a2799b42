import type { Pool, PoolClient } from 'pg';
import { to as copyTo, type CopyToStreamQuery } from 'pg-copy-streams';
import { finished, type Readable } from 'node:stream';

/**
 * Runs `copy` (COPY ... TO STDOUT; no parameters, COPY takes none) on a client of its own and
 * returns its output. Neither the pool's statement_timeout (the session's is lifted, and reset
 * before the client goes back) nor its client-side query_timeout cut a long export. The client
 * is released when the stream ends; when it fails or is destroyed before its end (the HTTP
 * client went away or stopped reading), the client is released with the error, so the pool
 * closes its connection, which also ends the COPY on the server.
 */
export async function copyOut(pool: Pool, sql: string): Promise<Readable> {
  const client = await pool.connect();
  let stream: CopyToStreamQuery;
  try {
    await client.query('SET statement_timeout = 0');
    stream = submitWithoutReadTimeout(client, copyTo(sql));
  } catch (e) {
    client.release(e instanceof Error ? e : new Error(String(e)));
    throw e;
  }
  finished(stream, (err) => {
    if (err) {
      client.release(err);
      return;
    }
    client.query('RESET statement_timeout').then(
      () => client.release(),
      (e: Error) => client.release(e),
    );
  });
  return stream;
}

/**
 * `client.query(submittable)` without node-postgres' client-side read timeout (the pool's
 * query_timeout): it would fail the COPY after that long, and on a COPY stream its timer is not
 * even cleared when the COPY ends. The timeout is read when the query is queued, so it is lifted
 * for this call only.
 */
function submitWithoutReadTimeout<T extends CopyToStreamQuery>(client: PoolClient, query: T): T {
  const params = (client as unknown as { connectionParameters: { query_timeout?: number } })
    .connectionParameters;
  const saved = params.query_timeout;
  params.query_timeout = undefined;
  try {
    return client.query(query);
  } finally {
    params.query_timeout = saved;
  }
}
