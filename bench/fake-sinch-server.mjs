// A fake upstream Sinch for the send-gate load: the two calls the service makes to forward a send,
// answered as cheaply as node:http allows (it serves both sides of the comparison, so its cost is
// in both figures; see bench/README.md).
//
// - POST /oauth2/token: HTTP Basic SINCH_KEY_ID:SINCH_KEY_SECRET (401 invalid_client otherwise),
//   form body grant_type=client_credentials (400 unsupported_grant_type otherwise) →
//   {access_token: <unsigned JWT-shaped token, exp in 1 h>, expires_in: 3600, token_type: 'bearer'}.
// - POST /v1/projects/:project/messages:send: the bearer token must be one this process issued
//   (401 UNAUTHENTICATED otherwise); the body is read, not parsed →
//   200 {"message_id":"<unique id>","accepted_time":"<ISO time>"}.
// - GET /stats: counts (token requests, sends accepted, refused, connections) and the last accepted send
//   (path and raw body), so run.mjs can check what was forwarded and what was not.
// - GET /health: 200.
//
// Started by run.mjs as a child process: PORT, HOST (default 127.0.0.1), SINCH_KEY_ID,
// SINCH_KEY_SECRET. Prints "listening" when ready.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { URLSearchParams } from 'node:url';

const KEY_ID = process.env.SINCH_KEY_ID ?? '';
const KEY_SECRET = process.env.SINCH_KEY_SECRET ?? '';
const EXPECTED_BASIC = `Basic ${Buffer.from(`${KEY_ID}:${KEY_SECRET}`).toString('base64')}`;
const TOKEN_TTL_S = 3600;
const SEND_PREFIX = '/v1/projects/';
const SEND_SUFFIX = '/messages:send';

const stats = {
  tokens: 0,
  tokens_refused: 0,
  sends: 0,
  sends_unauthorized: 0,
  not_found: 0,
  /**
   * TCP connections that carried a token or send request (keep-alive reuse shows as few
   * connections for many sends; /stats and /health connections are not counted).
   */
  connections: 0,
  last_send: null,
};
/** Bearer headers ("Bearer <token>") of the tokens issued, for an O(1) check per send. */
const issued = new Set();

// Message ids: 26 characters, a random per-process prefix and a counter (unique per run).
const ID_PREFIX = randomBytes(8).toString('hex').toUpperCase();
let idCounter = 0;
const nextMessageId = () => ID_PREFIX + String(++idCounter).padStart(10, '0');

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

function send(res, status, body) {
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Reads the whole body as a string, then calls done(body). */
function readBody(req, done) {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => done(body));
}

function messagesSend(req, res) {
  const auth = req.headers.authorization;
  if (auth === undefined || !issued.has(auth)) {
    req.resume();
    req.on('end', () => {
      stats.sends_unauthorized++;
      send(
        res,
        401,
        '{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}',
      );
    });
    return;
  }
  readBody(req, (body) => {
    stats.sends++;
    stats.last_send = { path: req.url, body };
    send(
      res,
      200,
      `{"message_id":"${nextMessageId()}","accepted_time":"${new Date().toISOString()}"}`,
    );
  });
}

function oauthToken(req, res) {
  readBody(req, (body) => {
    if (req.headers.authorization !== EXPECTED_BASIC) {
      stats.tokens_refused++;
      return send(res, 401, '{"error":"invalid_client"}');
    }
    if (new URLSearchParams(body).get('grant_type') !== 'client_credentials') {
      stats.tokens_refused++;
      return send(res, 400, '{"error":"unsupported_grant_type"}');
    }
    const now = Math.floor(Date.now() / 1000);
    const token = [
      b64url({ alg: 'none', typ: 'JWT' }),
      b64url({
        iss: 'fake-sinch',
        sub: KEY_ID,
        iat: now,
        exp: now + TOKEN_TTL_S,
        jti: ++stats.tokens,
      }),
      '',
    ].join('.');
    issued.add(`Bearer ${token}`);
    send(
      res,
      200,
      JSON.stringify({ access_token: token, expires_in: TOKEN_TTL_S, token_type: 'bearer' }),
    );
  });
}

const COUNTED = Symbol('counted');

const server = http.createServer((req, res) => {
  const url = req.url;
  if (req.method === 'POST') {
    if (req.socket[COUNTED] === undefined) {
      req.socket[COUNTED] = true;
      stats.connections++;
    }
    if (url.endsWith(SEND_SUFFIX) && url.startsWith(SEND_PREFIX)) return messagesSend(req, res);
    if (url === '/oauth2/token') return oauthToken(req, res);
  } else if (req.method === 'GET') {
    if (url === '/stats') return send(res, 200, JSON.stringify(stats));
    if (url === '/health') return send(res, 200, '{"status":"ok"}');
  }
  req.resume();
  req.on('end', () => {
    stats.not_found++;
    send(res, 404, '{"error":{"code":404,"message":"Not found","status":"NOT_FOUND"}}');
  });
});
// Longer than any pause between runs, so that idle keep-alive connections (the service's to this
// server, the load generator's) are not closed by the server while a client reuses them.
server.keepAliveTimeout = 120_000;

const shutdown = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  process.stdout.write('listening\n');
});
