// A small, framework-free client for the Sinch Conversation API calls this service makes:
// messages:send with a text message (the confirmation reply to an opt-in / opt-out keyword), and
// forward(): a caller's request body sent unchanged (the send gate), answered with Sinch's status
// and body as they came.
//
// Wire format (reference/sinch.md §5, checked against @sinch/sdk-core 1.4.0 in
// sinch-client.spec.ts):
// - POST {conversationUrl}/v1/projects/{projectId}/messages:send, JSON body, Bearer token.
// - OAuth2 client credentials: POST {authUrl}/oauth2/token, form body
//   grant_type=client_credentials, HTTP Basic keyId:keySecret (not form-encoded, as the SDK does).
//
// Failures never throw: sendText() resolves to a SendOutcome, forward() to a ForwardOutcome. Error strings are short and never
// contain the credentials, the token, the recipient identity or the message text.

import { retryAfterOf } from '../common/retry-after.js';
import { keepAliveFetch } from './keep-alive-fetch.js';

export type SinchRegion = 'us' | 'eu' | 'br';

export interface SinchClientOptions {
  projectId: string;
  keyId: string;
  keySecret: string;
  /** Conversation API base URL, no trailing slash, e.g. https://us.conversation.api.sinch.com */
  conversationUrl: string;
  /** OAuth2 host, no trailing slash, e.g. https://auth.sinch.com */
  authUrl: string;
  /** Per HTTP request (token or send), including reading the response. Default 10000. */
  timeoutMs?: number;
  /** Clock in epoch milliseconds, for token expiry. Default Date.now. */
  now?: () => number;
}

export interface SendTextRequest {
  appId: string;
  /** Conversation API channel, e.g. SMS, WHATSAPP. */
  channel: string;
  /** The recipient's channel identity (e.g. an MSISDN for SMS). */
  identity: string;
  text: string;
  messageMetadata?: string;
  correlationId?: string;
}

export type SendOutcome =
  | { ok: true; messageId: string; acceptedTime?: string; status: number }
  | {
      ok: false;
      retryable: boolean;
      /** HTTP status of the failing call (messages:send, or the token endpoint); absent on network errors. */
      status?: number;
      /** Short, loggable: no secrets, no identity, no message text. */
      error: string;
      /**
       * The wait a 429 or 503 (of messages:send or the token endpoint) asked for in its
       * Retry-After header, in ms from the answer; absent when it gave none or none readable.
       */
      retryAfterMs?: number;
    };

type Failure = Extract<SendOutcome, { ok: false }>;

/**
 * What forward() got: Sinch's answer, whatever its status (a 401 only after one token renewal),
 * or no answer at all (network error, timeout, or no access token).
 */
export type ForwardOutcome =
  | { ok: true; status: number; body: string; contentType: string | null }
  | {
      ok: false;
      /** `token` when no access token could be had, `network` when Sinch did not answer. */
      stage: 'token' | 'network';
      /** HTTP status of the token endpoint, for a token failure with an answer. */
      status?: number;
      /** Short, loggable: no secrets, no request data. */
      error: string;
    };

export const DEFAULT_SINCH_TIMEOUT_MS = 10_000;
export const DEFAULT_SINCH_AUTH_URL = 'https://auth.sinch.com';
/** The token is renewed this long before it expires (the Sinch SDK uses the same margin). */
export const TOKEN_EXPIRY_MARGIN_MS = 60_000;
const MAX_ERROR_MESSAGE_CHARS = 200;

export function defaultConversationUrl(region: SinchRegion): string {
  return `https://${region}.conversation.api.sinch.com`;
}

/**
 * Client options from the service configuration; null when any of project id, key id and key
 * secret is missing or blank (sending replies is then disabled).
 */
export function sinchOptionsFromConfig(c: {
  SINCH_PROJECT_ID?: string;
  SINCH_KEY_ID?: string;
  SINCH_KEY_SECRET?: string;
  SINCH_REGION: SinchRegion;
  SINCH_CONVERSATION_URL?: string;
  SINCH_AUTH_URL?: string;
}): SinchClientOptions | null {
  const projectId = c.SINCH_PROJECT_ID?.trim();
  const keyId = c.SINCH_KEY_ID?.trim();
  const keySecret = c.SINCH_KEY_SECRET;
  if (!projectId || !keyId || !keySecret || !keySecret.trim()) return null;
  return {
    projectId,
    keyId,
    keySecret,
    conversationUrl: stripTrailingSlashes(
      nonBlank(c.SINCH_CONVERSATION_URL) ?? defaultConversationUrl(c.SINCH_REGION),
    ),
    authUrl: stripTrailingSlashes(nonBlank(c.SINCH_AUTH_URL) ?? DEFAULT_SINCH_AUTH_URL),
  };
}

interface CachedToken {
  value: string;
  /** Epoch ms after which the token is not used any more; undefined: until a 401. */
  renewAt?: number;
}

/** A failed token request, carried up to sendText as its outcome. */
class TokenFailure {
  constructor(readonly outcome: Failure) {}
}

export class SinchClient {
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly fetch: typeof globalThis.fetch;
  private token?: CachedToken;
  private pendingToken?: Promise<string>;

  constructor(
    private readonly opts: SinchClientOptions,
    fetchImpl: typeof globalThis.fetch = keepAliveFetch as unknown as typeof globalThis.fetch,
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_SINCH_TIMEOUT_MS;
    this.now = opts.now ?? Date.now;
    // Called unbound: some fetch implementations reject a foreign `this`.
    this.fetch = (input, init) => fetchImpl(input, init);
  }

  async sendText(req: SendTextRequest): Promise<SendOutcome> {
    const body = JSON.stringify({
      app_id: req.appId,
      recipient: {
        identified_by: { channel_identities: [{ channel: req.channel, identity: req.identity }] },
      },
      message: { text_message: { text: req.text } },
      channel_priority_order: [req.channel],
      ...(req.messageMetadata !== undefined ? { message_metadata: req.messageMetadata } : {}),
      ...(req.correlationId !== undefined ? { correlation_id: req.correlationId } : {}),
    });
    const url = `${this.opts.conversationUrl}/v1/projects/${encodeURIComponent(this.opts.projectId)}/messages:send`;
    const redact = (s: string): string => redactRequestData(s, req);

    const answer = await this.postAuthorised(url, body);
    if (answer.kind === 'token') return answer.failure;
    if (answer.kind === 'network') {
      return { ok: false, retryable: true, error: `messages:send: ${answer.error}` };
    }
    const { status, text, retryAfter } = answer;
    if (status >= 200 && status < 300) {
      const json = parseJson(text);
      const messageId = stringField(json, 'message_id');
      if (!messageId) {
        // Sinch may have accepted the message: a retry could send it twice.
        return {
          ok: false,
          retryable: false,
          status,
          error: `messages:send: HTTP ${status} without message_id`,
        };
      }
      const acceptedTime = stringField(json, 'accepted_time');
      return { ok: true, messageId, status, ...(acceptedTime ? { acceptedTime } : {}) };
    }
    const retryAfterMs = retryAfterOf(status, retryAfter, this.now());
    return {
      ok: false,
      retryable: isRetryableStatus(status),
      status,
      error: `messages:send: ${describeHttpError(status, text, redact)}`,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    };
  }

  /**
   * POSTs `body` unchanged, as JSON, to `{conversationUrl}{path}` with the service's own access
   * token, renewing the token once on a 401 (like sendText). Sinch's status and body come back as
   * they are, including its errors; only a missing answer is a failure.
   */
  async forward(path: string, body: string): Promise<ForwardOutcome> {
    const answer = await this.postAuthorised(`${this.opts.conversationUrl}${path}`, body);
    if (answer.kind === 'token') {
      const { error, status } = answer.failure;
      return { ok: false, stage: 'token', error, ...(status !== undefined ? { status } : {}) };
    }
    if (answer.kind === 'network') {
      return { ok: false, stage: 'network', error: `messages:send: ${answer.error}` };
    }
    return { ok: true, status: answer.status, body: answer.text, contentType: answer.contentType };
  }

  /**
   * POSTs a JSON body with the service's access token; on a 401 the token is renewed once
   * (unless another caller already did) and the request sent again. Never throws.
   */
  private async postAuthorised(
    url: string,
    body: string,
  ): Promise<
    | { kind: 'token'; failure: Failure }
    | { kind: 'network'; error: string }
    | {
        kind: 'answer';
        status: number;
        text: string;
        contentType: string | null;
        retryAfter: string | null;
      }
  > {
    for (let attempt = 1; ; attempt++) {
      let token: string;
      try {
        token = await this.getToken();
      } catch (e) {
        if (e instanceof TokenFailure) return { kind: 'token', failure: e.outcome };
        return {
          kind: 'token',
          failure: { ok: false, retryable: true, error: `oauth2 token: ${describeError(e)}` },
        };
      }
      let status: number;
      let text: string;
      let contentType: string | null;
      let retryAfter: string | null;
      try {
        const res = await this.fetch(url, {
          method: 'POST',
          headers: {
            Authorization: `Bearer ${token}`,
            'Content-Type': 'application/json',
            Accept: 'application/json',
          },
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        status = res.status;
        contentType = res.headers.get('content-type');
        retryAfter = res.headers.get('retry-after');
        text = await res.text();
      } catch (e) {
        return { kind: 'network', error: describeError(e) };
      }
      if (status === 401 && attempt === 1) {
        this.invalidateToken(token);
        continue;
      }
      return { kind: 'answer', status, text, contentType, retryAfter };
    }
  }

  /** A valid access token: the cached one, the in-flight request's, or a new one. */
  private getToken(): Promise<string> {
    const cached = this.token;
    if (cached && (cached.renewAt === undefined || this.now() < cached.renewAt)) {
      return Promise.resolve(cached.value);
    }
    if (!this.pendingToken) {
      this.pendingToken = this.fetchToken().finally(() => {
        this.pendingToken = undefined;
      });
    }
    return this.pendingToken;
  }

  private invalidateToken(failing: string): void {
    if (this.token?.value === failing) this.token = undefined;
  }

  private async fetchToken(): Promise<string> {
    const fail = (
      retryable: boolean,
      error: string,
      status?: number,
      retryAfterMs?: number,
    ): TokenFailure =>
      new TokenFailure({
        ok: false,
        retryable,
        error: `oauth2 token: ${error}`,
        ...(status !== undefined ? { status } : {}),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      });
    const requestedAt = this.now();
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const basic = Buffer.from(`${this.opts.keyId}:${this.opts.keySecret}`).toString('base64');
      const res = await this.fetch(`${this.opts.authUrl}/oauth2/token`, {
        method: 'POST',
        headers: {
          Authorization: `Basic ${basic}`,
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
        },
        body: 'grant_type=client_credentials',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      text = await res.text();
    } catch (e) {
      throw fail(true, describeError(e));
    }
    if (status < 200 || status >= 300) {
      const json = parseJson(text);
      // OAuth2 error codes (RFC 6749 §5.2) such as invalid_client are safe to show.
      const code = stringField(json, 'error');
      const detail = code && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? ` ${code}` : '';
      throw fail(
        isRetryableStatus(status),
        `HTTP ${status}${detail}`,
        status,
        retryAfterOf(status, retryAfter, this.now()),
      );
    }
    const json = parseJson(text);
    const accessToken = stringField(json, 'access_token');
    if (!accessToken || !accessToken.trim()) {
      throw fail(false, `HTTP ${status} without access_token`, status);
    }
    const exp = jwtExpMs(accessToken);
    const expiresIn = numberField(json, 'expires_in');
    const expiresAt = exp ?? (expiresIn !== undefined ? requestedAt + expiresIn * 1000 : undefined);
    this.token = {
      value: accessToken,
      ...(expiresAt !== undefined ? { renewAt: expiresAt - TOKEN_EXPIRY_MARGIN_MS } : {}),
    };
    // The caller that asked uses it even when it is already inside the renewal margin.
    return accessToken;
  }
}

function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

function stripTrailingSlashes(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

function nonBlank(v: string | undefined): string | undefined {
  return v && v.trim() ? v : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function stringField(obj: unknown, key: string): string | undefined {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const v = (obj as Record<string, unknown>)[key];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function numberField(obj: unknown, key: string): number | undefined {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const v = (obj as Record<string, unknown>)[key];
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** The JWT `exp` claim in epoch ms, read without verifying the signature; undefined if not a JWT. */
function jwtExpMs(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    const exp = (payload as { exp?: unknown } | null)?.exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** "HTTP 400 INVALID_ARGUMENT: <Sinch's error.message>" for Sinch's Google-RPC error body. */
function describeHttpError(status: number, text: string, redact: (s: string) => string): string {
  const json = parseJson(text);
  const err =
    typeof json === 'object' && json !== null ? (json as { error?: unknown }).error : undefined;
  if (typeof err !== 'object' || err === null) return `HTTP ${status}`;
  const rpcStatus = stringField(err, 'status');
  const message = stringField(err, 'message');
  let out = `HTTP ${status}`;
  if (rpcStatus && /^[A-Z_]{1,64}$/.test(rpcStatus)) out += ` ${rpcStatus}`;
  if (message) out += `: ${truncate(redact(singleLine(message)), MAX_ERROR_MESSAGE_CHARS)}`;
  return out;
}

/** Sinch may quote the request back in its error message: mask the identity and the text. */
function redactRequestData(s: string, req: SendTextRequest): string {
  let out = s;
  for (const secret of [req.text.trim(), req.identity.trim()]) {
    if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  // Anything else that looks like a phone number.
  return out.replace(/\+?\d{7,}/g, '[redacted]');
}

function singleLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** A network-level failure, named by its kind only (no URL, no payload). */
function describeError(e: unknown): string {
  if (e instanceof Error || (typeof e === 'object' && e !== null)) {
    const err = e as { name?: unknown; cause?: unknown };
    if (err.name === 'TimeoutError') return 'timeout';
    if (err.name === 'AbortError') return 'aborted';
    const code = errorCode(err.cause) ?? errorCode(e);
    if (code) return `network error ${code}`;
  }
  return 'network error';
}

function errorCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code) ? code : undefined;
}
