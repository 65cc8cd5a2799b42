// The baseline for the single check: the least a Node service can do for one check, i.e. bare
// Fastify parsing the same JSON body and running one hand-written primary-key lookup with pg.
// No auth, no validation layer, no framework: the service's single-check throughput is reported
// relative to this server's, measured on the same machine, database and client in the same run.
//
// The baseline for the webhook (POST /webhook): what any Sinch webhook receiver must at least do,
// i.e. verify the HMAC signature over the raw body, parse the JSON, and store the message id once
// (one INSERT ... ON CONFLICT DO NOTHING into bench_baseline_deliveries, created by run.mjs).
//
// Started by run.mjs as a child process: DATABASE_URL, PORT, HOST (default 127.0.0.1),
// DATABASE_POOL_SIZE (default 10, as the service), WEBHOOK_SECRET. Prints "listening" when ready.
import { createHmac, timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';
import pg from 'pg';

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.DATABASE_POOL_SIZE ?? 10),
  application_name: 'consent-gate-bench-baseline',
});

// Which lists stop CONTENT_MARKETING (the service's decision matrix, reduced to this one type).
const STOPS_MARKETING = new Set(['OPT_OUT_ALL', 'OPT_OUT_MARKETING']);

const app = Fastify({ logger: false, bodyLimit: 2 * 1024 * 1024 });

app.get('/health', async () => ({ status: 'ok' }));

app.post('/check', async (req, reply) => {
  const identity = req.body?.identities?.[0];
  if (typeof identity !== 'string') return reply.code(400).send({ error: 'identities[0] missing' });
  // A named statement is prepared once per connection, as the service does for its check query.
  const { rows } = await pool.query({
    name: 'baseline_check',
    text: `SELECT list_type FROM consent_state
            WHERE project_id = $1 AND app_id = $2 AND identity = $3 AND opted_out`,
    values: ['bench-project', 'bench-app', identity],
  });
  const lists = rows
    .map((r) => r.list_type)
    .filter((l) => STOPS_MARKETING.has(l))
    .sort();
  // Same response shape as the service, so both put the same bytes on the wire.
  return {
    mode: 'PRIMARY',
    message_content_type: req.body.message_content_type,
    results: [
      {
        identity,
        decision: lists.length > 0 ? 'BLOCK' : 'ALLOW',
        opted_out: lists.length > 0,
        lists,
        reason:
          lists.length > 0
            ? `identity is on ${lists.join(', ')}, which blocks CONTENT_MARKETING`
            : 'no opt-out list applies to CONTENT_MARKETING',
      },
    ],
  };
});

// Webhook: in its own encapsulated scope, so that its raw-body JSON parser does not change the
// parser /check uses.
const WEBHOOK_SECRET = process.env.WEBHOOK_SECRET ?? '';
const TIMESTAMP_WINDOW_S = 300; // as the service's WEBHOOK_TIMESTAMP_WINDOW_S default
const unauthenticated = (reply, why) => reply.code(401).send({ error: why });

app.register(async (scope) => {
  scope.decorateRequest('rawBody', null);
  scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, raw, done) => {
    req.rawBody = raw;
    try {
      done(null, JSON.parse(raw.toString('utf8')));
    } catch (e) {
      e.statusCode = 400;
      done(e, undefined);
    }
  });

  scope.post('/webhook', async (req, reply) => {
    const signature = req.headers['x-sinch-webhook-signature'];
    const nonce = req.headers['x-sinch-webhook-signature-nonce'];
    const timestamp = req.headers['x-sinch-webhook-signature-timestamp'];
    if (!WEBHOOK_SECRET || !signature || !nonce || !timestamp)
      return unauthenticated(reply, 'signature headers missing');
    if (
      !/^\d{1,12}$/.test(timestamp) ||
      Math.abs(Date.now() / 1000 - Number(timestamp)) > TIMESTAMP_WINDOW_S
    )
      return unauthenticated(reply, 'bad or stale timestamp');
    const expected = createHmac('sha256', WEBHOOK_SECRET)
      .update(req.rawBody)
      .update(`.${nonce}.${timestamp}`)
      .digest();
    const given = Buffer.from(signature, 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return unauthenticated(reply, 'bad signature');
    const messageId = req.body?.message?.id;
    if (typeof messageId !== 'string' || messageId === '')
      return reply.code(400).send({ error: 'message.id missing' });
    const { rowCount } = await pool.query({
      name: 'baseline_webhook',
      text: 'INSERT INTO bench_baseline_deliveries (message_id) VALUES ($1) ON CONFLICT DO NOTHING',
      values: [messageId],
    });
    // Same answer shape as the service.
    return {
      status: rowCount === 1 ? 'PROCESSED' : 'DUPLICATE',
      trigger: 'MESSAGE_INBOUND',
      outcome: rowCount === 1 ? 'RECORDED' : 'DUPLICATE',
    };
  });
});

const shutdown = async () => {
  await app.close();
  await pool.end();
  process.exit(0);
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

await app.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1' });
process.stdout.write('listening\n');
