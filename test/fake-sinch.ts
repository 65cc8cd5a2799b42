// A local stand-in for Sinch in tests: the OAuth2 token endpoint and Conversation API
// messages:send, on 127.0.0.1 (port chosen by the OS).
//
// What it checks, like Sinch (reference/sinch.md §5):
// - POST /oauth2/token: HTTP Basic expectedKeyId:expectedKeySecret (else 401 invalid_client),
//   form body grant_type=client_credentials (else 400 unsupported_grant_type). Answers
//   { access_token, expires_in, scope, token_type } with an unsigned JWT-shaped token carrying
//   `exp` (or an opaque token when opaqueTokens is set).
// - POST /v1/projects/{projectId}/messages:send: a Bearer token issued here, not expired, not
//   rejected (else 401 in Sinch's error shape, with WWW-Authenticate mentioning "expired" for
//   expired / rejected tokens, which is what makes the official SDK renew and retry); a JSON body
//   with app_id, recipient and message (else 400 INVALID_ARGUMENT). Answers 200
//   { message_id, accepted_time }.
// Failure injection (failNext, failNextWithReset, stallNext, failNextToken[WithReset]) is consumed in order, before
// any check, and is recorded like any other request. failFor(identity, ...) and stallFor(identity, n)
// inject failures for the messages:send requests to one recipient only (consumed before the
// general ones).
import { randomBytes } from 'node:crypto';
import {
  createServer,
  IncomingHttpHeaders,
  IncomingMessage,
  Server,
  ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query as received. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON, or the form fields for application/x-www-form-urlencoded, else the raw text. */
  body: unknown;
  rawBody: string;
  /** Epoch ms of arrival. */
  at: number;
  /** What the fake answered; 0 when the socket was destroyed; undefined while unanswered. */
  status?: number;
}

/** A messages:send body as recorded (the Conversation API's SendMessageRequest, loosely typed). */
export interface RecordedSend {
  app_id?: string;
  recipient?: {
    contact_id?: string;
    identified_by?: { channel_identities?: Array<{ channel?: string; identity?: string }> };
  };
  message?: { text_message?: { text?: string } } & Record<string, unknown>;
  channel_priority_order?: string[];
  message_metadata?: string;
  correlation_id?: string;
  [key: string]: unknown;
}

type Injected =
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'reset' }
  | { kind: 'stall' };

const RPC_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  501: 'NOT_IMPLEMENTED',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** Sinch's (Google RPC style) error body. */
export function sinchError(code: number, message: string, status?: string): unknown {
  return { error: { code, message, status: status ?? RPC_STATUS[code] ?? 'UNKNOWN', details: [] } };
}

const SEND_PATH = /^\/v1\/projects\/([^/]+)\/messages:send$/;
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** 26 Crockford base32 characters: 10 of time, 16 random (the shape of Sinch's message ids). */
export function ulidLike(now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const random = [...randomBytes(16)].map((b) => CROCKFORD[b % 32]).join('');
  return time + random;
}

export class FakeSinch {
  readonly requests: RecordedRequest[] = [];
  expectedKeyId = 'fake-key-id';
  expectedKeySecret = 'fake-key-secret';
  /** Lifetime of issued tokens (JWT `exp` and `expires_in`). */
  tokenTtlSeconds = 3600;
  /** Issue opaque (non-JWT) tokens: clients must rely on `expires_in`. */
  opaqueTokens = false;
  /** The fake's clock, epoch ms, for `exp` and token expiry checks. */
  now: () => number = Date.now;
  /**
   * Answer each accepted messages:send only this long after it arrived (recorded at once, as
   * Sinch accepts a message when the request arrives): keeps sends in flight for fault tests.
   */
  sendDelayMs = 0;

  private server?: Server;
  private port = 0;
  private readonly tokens = new Map<string, { expiresAt: number }>();
  private readonly issued: string[] = [];
  private readonly rejected = new Set<string>();
  private readonly sendFailures: Injected[] = [];
  private readonly recipientFailures = new Map<string, Injected[]>();
  private readonly tokenFailures: Injected[] = [];
  private tokenCounter = 0;

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Base URL (scheme, host, port; no trailing slash): both the auth and the conversation host. */
  get url(): string {
    if (!this.server) throw new Error('FakeSinch is not started');
    return `http://127.0.0.1:${this.port}`;
  }

  /** Bodies of every messages:send request received (answered or failed), oldest first. */
  sends(): RecordedSend[] {
    return this.requests
      .filter((r) => r.method === 'POST' && SEND_PATH.test(pathOnly(r.path)))
      .map((r) => r.body as RecordedSend);
  }

  /** The messages:send requests answered 200. */
  accepted(): RecordedRequest[] {
    return this.requests.filter(
      (r) => r.method === 'POST' && SEND_PATH.test(pathOnly(r.path)) && r.status === 200,
    );
  }

  /** How many POST /oauth2/token requests arrived (including refused ones). */
  tokenRequests(): number {
    return this.requests.filter((r) => r.method === 'POST' && pathOnly(r.path) === '/oauth2/token')
      .length;
  }

  /** Tokens issued since start() or the last reset(), oldest first. */
  issuedTokens(): string[] {
    return [...this.issued];
  }

  /**
   * The next n messages:send requests answer `status` (Sinch's error shape unless body given),
   * with extra response `headers` (e.g. Retry-After) if given.
   */
  failNext(n: number, status = 503, body?: unknown, headers?: Record<string, string>): void {
    for (let i = 0; i < n; i++) this.sendFailures.push({ kind: 'status', status, body, headers });
  }

  /** Like failNext, for the next n messages:send requests to this recipient identity only. */
  failFor(
    identity: string,
    n: number,
    status = 503,
    body?: unknown,
    headers?: Record<string, string>,
  ): void {
    const queue = this.recipientFailures.get(identity) ?? [];
    for (let i = 0; i < n; i++) queue.push({ kind: 'status', status, body, headers });
    this.recipientFailures.set(identity, queue);
  }

  /** Like stallNext, for the next n messages:send requests to this recipient identity only. */
  stallFor(identity: string, n: number): void {
    const queue = this.recipientFailures.get(identity) ?? [];
    for (let i = 0; i < n; i++) queue.push({ kind: 'stall' });
    this.recipientFailures.set(identity, queue);
  }

  /** The next n messages:send requests get their socket destroyed: a network error. */
  failNextWithReset(n: number): void {
    for (let i = 0; i < n; i++) this.sendFailures.push({ kind: 'reset' });
  }

  /** The next n messages:send requests are never answered (until stop()): a client timeout. */
  stallNext(n: number): void {
    for (let i = 0; i < n; i++) this.sendFailures.push({ kind: 'stall' });
  }

  /** The next n token requests answer `status` (OAuth2 error body unless body given). */
  failNextToken(n: number, status = 503, body?: unknown, headers?: Record<string, string>): void {
    for (let i = 0; i < n; i++) this.tokenFailures.push({ kind: 'status', status, body, headers });
  }

  /** The next n token requests get their socket destroyed: a network error. */
  failNextTokenWithReset(n: number): void {
    for (let i = 0; i < n; i++) this.tokenFailures.push({ kind: 'reset' });
  }

  /** messages:send answers 401 (as for an expired token) to this token from now on. */
  rejectToken(token: string): void {
    this.rejected.add(token);
  }

  /** Forget recorded requests, pending failures and issuedTokens() (issued tokens stay valid). */
  reset(): void {
    this.requests.length = 0;
    this.issued.length = 0;
    this.sendFailures.length = 0;
    this.recipientFailures.clear();
    this.tokenFailures.length = 0;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      return;
    }
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const record: RecordedRequest = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body: parseBody(rawBody, req.headers['content-type']),
      rawBody,
      at: Date.now(),
    };
    this.requests.push(record);
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      record.status = status;
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const reset = (): void => {
      record.status = 0;
      req.socket.destroy();
    };

    const path = pathOnly(record.path);
    if (path === '/oauth2/token') {
      if (record.method !== 'POST') return answer(405, { error: 'invalid_request' });
      const injected = this.tokenFailures.shift();
      if (injected?.kind === 'reset') return reset();
      if (injected?.kind === 'status') {
        return answer(
          injected.status,
          injected.body ?? { error: 'temporarily_unavailable' },
          injected.headers,
        );
      }
      return this.issueToken(req, record, answer);
    }

    const send = SEND_PATH.exec(path);
    if (send) {
      if (record.method !== 'POST') {
        return answer(405, sinchError(405, 'Method not allowed', 'UNIMPLEMENTED'));
      }
      const recipient = (record.body as RecordedSend | undefined)?.recipient?.identified_by
        ?.channel_identities?.[0]?.identity;
      const forRecipient = recipient ? this.recipientFailures.get(recipient) : undefined;
      const injected = forRecipient?.shift() ?? this.sendFailures.shift();
      if (injected?.kind === 'reset') return reset();
      if (injected?.kind === 'stall') return;
      if (injected) {
        return answer(
          injected.status,
          injected.body ?? sinchError(injected.status, 'Injected failure (FakeSinch)'),
          injected.headers,
        );
      }
      const auth = this.checkBearer(req.headers.authorization);
      if (auth) {
        return answer(401, sinchError(401, 'Request had invalid credentials.'), {
          'WWW-Authenticate': `Bearer error="invalid_token", error_description="${auth}"`,
        });
      }
      const invalid = validateSend(record.body, rawBody, req.headers['content-type']);
      if (invalid) return answer(400, sinchError(400, invalid));
      const now = this.now();
      if (this.sendDelayMs > 0) await new Promise((r) => setTimeout(r, this.sendDelayMs));
      if (res.destroyed) return;
      return answer(200, { message_id: ulidLike(now), accepted_time: new Date(now).toISOString() });
    }

    return answer(404, sinchError(404, `Not found: ${record.method} ${path}`));
  }

  private issueToken(
    req: IncomingMessage,
    record: RecordedRequest,
    answer: (status: number, body: unknown) => void,
  ): void {
    const expected = `Basic ${Buffer.from(`${this.expectedKeyId}:${this.expectedKeySecret}`).toString('base64')}`;
    if (req.headers.authorization !== expected) {
      return answer(401, { error: 'invalid_client', error_description: 'Bad client credentials' });
    }
    const contentType = req.headers['content-type'] ?? '';
    const form = record.body as Record<string, string> | undefined;
    if (
      !contentType.startsWith('application/x-www-form-urlencoded') ||
      form?.grant_type !== 'client_credentials'
    ) {
      return answer(400, { error: 'unsupported_grant_type' });
    }
    const now = this.now();
    const iat = Math.floor(now / 1000);
    const exp = iat + this.tokenTtlSeconds;
    const jti = `${++this.tokenCounter}-${randomBytes(6).toString('hex')}`;
    const token = this.opaqueTokens
      ? `opaque-${jti}`
      : [
          b64url({ alg: 'none', typ: 'JWT' }),
          b64url({ iss: 'fake-sinch', sub: this.expectedKeyId, iat, exp, jti }),
          '',
        ].join('.');
    this.tokens.set(token, { expiresAt: exp * 1000 });
    this.issued.push(token);
    answer(200, {
      access_token: token,
      expires_in: this.tokenTtlSeconds,
      scope: '',
      token_type: 'bearer',
    });
  }

  /** undefined when the bearer token is good, else the reason. */
  private checkBearer(header: string | undefined): string | undefined {
    const m = /^Bearer (\S+)$/.exec(header ?? '');
    if (!m?.[1]) return 'missing bearer token';
    const token = this.tokens.get(m[1]);
    if (!token) return 'unknown token';
    if (this.rejected.has(m[1])) return 'token expired (rejected)';
    if (this.now() >= token.expiresAt) return 'token expired';
    return undefined;
  }
}

function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

function parseBody(raw: string, contentType: string | undefined): unknown {
  if (raw === '') return undefined;
  if (contentType?.startsWith('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(raw));
  }
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

/** The first-stage validation Sinch does synchronously (the rest comes as delivery callbacks). */
function validateSend(
  body: unknown,
  raw: string,
  contentType: string | undefined,
): string | undefined {
  if (!contentType?.startsWith('application/json')) return 'Content-Type must be application/json';
  if (typeof body !== 'object' || body === null || raw === '') {
    return 'Invalid JSON payload received.';
  }
  const b = body as RecordedSend;
  if (typeof b.app_id !== 'string' || b.app_id === '') return 'app_id is required';
  const recipient = b.recipient;
  if (typeof recipient !== 'object' || recipient === null) return 'recipient is required';
  const identities = recipient.identified_by?.channel_identities;
  const hasIdentities =
    Array.isArray(identities) &&
    identities.length > 0 &&
    identities.every((i) => typeof i?.channel === 'string' && typeof i?.identity === 'string');
  if (!recipient.contact_id && !hasIdentities) {
    return 'recipient must have contact_id or identified_by.channel_identities';
  }
  const message = b.message;
  if (typeof message !== 'object' || message === null || Object.keys(message).length === 0) {
    return 'message is required';
  }
  return undefined;
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
