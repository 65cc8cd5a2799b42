// The webhook load, shared by run.mjs: signed Sinch MESSAGE_INBOUND callbacks, made and signed per
// request in the load generator, and the bookkeeping that lets run.mjs prove afterwards that every
// delivery answered 200 is in the database (and nothing else is).
import { createHmac } from 'node:crypto';
import { PROJECT_ID } from './workload.mjs';

export const WEBHOOK_APP_ID = 'bench-webhook-app';
/** Identities the callbacks come from: 20,000 numbers (prefix 1557, never seeded). */
export const WEBHOOK_IDENTITY_COUNT = 20_000;
export const webhookIdentity = (g) => `1557${String(g).padStart(7, '0')}`;

/** The texts and their shares; `outcome` is what the service must answer for each. */
export const WEBHOOK_TEXTS = [
  { text: 'hello, what time do you open?', share: 0.7, outcome: 'NO_KEYWORD' },
  { text: 'STOP', share: 0.2, outcome: 'KEYWORD_OPT_OUT' },
  { text: 'START', share: 0.1, outcome: 'KEYWORD_OPT_IN' },
];
const CUMULATIVE = (() => {
  let sum = 0;
  return WEBHOOK_TEXTS.map((t) => (sum += t.share));
})();
function randomText() {
  const r = Math.random();
  for (let i = 0; i < CUMULATIVE.length - 1; i++) if (r < CUMULATIVE[i]) return WEBHOOK_TEXTS[i];
  return WEBHOOK_TEXTS[WEBHOOK_TEXTS.length - 1];
}

// ULID-like ids (26 Crockford base32 characters: 10 of millisecond time, 16 "random"), used for
// message ids and nonces. The 16 are 6 random characters drawn once per process and a 10-character
// counter, so every id of a bench run is unique at the cost of a few string operations.
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
function base32(n, width) {
  let s = '';
  for (let i = 0; i < width; i++) {
    s = CROCKFORD[n % 32] + s;
    n = Math.floor(n / 32);
  }
  return s;
}
const PROCESS_TAG = base32(Math.floor(Math.random() * 32 ** 6), 6);
let idCounter = 0;
let lastMs = -1;
let timePart = '';
export function ulidLike() {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    timePart = base32(now, 10);
  }
  return timePart + PROCESS_TAG + base32(++idCounter, 10);
}

/** The callback body Sinch posts for an inbound SMS (shape of test/webhooks.e2e-spec.ts). */
export function inboundBody(messageId, identity, text, now = new Date().toISOString()) {
  return JSON.stringify({
    app_id: WEBHOOK_APP_ID,
    project_id: PROJECT_ID,
    accepted_time: now,
    event_time: now,
    message: {
      id: messageId,
      direction: 'TO_APP',
      contact_message: { text_message: { text } },
      channel_identity: { channel: 'SMS', identity, app_id: '' },
      contact_id: '',
      conversation_id: '',
      metadata: '',
      accept_time: now,
      processing_mode: 'DISPATCH',
    },
    message_metadata: '',
  });
}

/** Sinch's signature: base64(HMAC-SHA256(secret, rawBody + "." + nonce + "." + timestamp)). */
export function signature(secret, body, nonce, timestamp) {
  return createHmac('sha256', secret)
    .update(body)
    .update(`.${nonce}.${timestamp}`)
    .digest('base64');
}

/** The four signature headers for `body`, with a fresh nonce and the current Unix time. */
export function signedHeaders(secret, body) {
  const nonce = ulidLike();
  const timestamp = String(Math.floor(Date.now() / 1000));
  return {
    'x-sinch-webhook-signature': signature(secret, body, nonce, timestamp),
    'x-sinch-webhook-signature-nonce': nonce,
    'x-sinch-webhook-signature-timestamp': timestamp,
    'x-sinch-webhook-signature-algorithm': 'HmacSHA256',
  };
}

/**
 * The webhook traffic to one server (service or baseline): makes each delivery, checks each answer,
 * and keeps the counts needed to compare with the database afterwards.
 *
 * Duration-bound autocannon runs end by closing their connections, so up to one request per
 * connection is cut off in flight: the server may or may not have committed it, and nobody got its
 * answer. Those are kept (`cutOff`) and redelivered after the load, as Sinch retries a callback it
 * got no answer to: the server must then answer 200 PROCESSED (it had not committed it) or 200
 * DUPLICATE (it had). After that, every delivery ever sent has exactly one acknowledged 200, and
 * the database must hold exactly one row per delivery.
 */
export class WebhookTraffic {
  /**
   * @param {string} secret the webhook secret the server was configured with
   * @param {boolean} checkOutcome also require the service's outcome for the text (NO_KEYWORD...)
   */
  constructor(secret, checkOutcome) {
    this.secret = secret;
    this.checkOutcome = checkOutcome;
    /** Deliveries answered 200 PROCESSED (load, verification and redeliveries). */
    this.processed = 0;
    /** Redeliveries answered 200 DUPLICATE (the cut-off original had been committed). */
    this.duplicates = 0;
    this.cutOffTotal = 0;
    this.inFlight = new Set();
    this.cutOff = [];
    this.bad = 0;
    this.firstBad = null;
    // Bound once: autocannon calls these for every request and answer.
    this.setupRequest = this.setupRequest.bind(this);
    this.onResponse = this.onResponse.bind(this);
  }

  /** A new delivery: unique message id, random identity and text. */
  next(text = randomText(), identity = null) {
    const id = ulidLike();
    identity ??= webhookIdentity(1 + Math.floor(Math.random() * WEBHOOK_IDENTITY_COUNT));
    return { id, identity, outcome: text.outcome, body: inboundBody(id, identity, text.text) };
  }

  /** autocannon setupRequest: a new delivery, signed now. */
  setupRequest(req, context) {
    const d = this.next();
    req.body = d.body;
    Object.assign(req.headers, signedHeaders(this.secret, d.body));
    context.delivery = d;
    this.inFlight.add(d);
    return req;
  }

  /** Returns null when `status`/`text` is the right answer to delivery `d`, else a description. */
  problem(d, status, text, allowDuplicate = false) {
    if (status !== 200) return `HTTP ${status}`;
    let ack;
    try {
      ack = JSON.parse(text);
    } catch {
      return `not JSON: ${String(text).slice(0, 200)}`;
    }
    if (ack.status !== 'PROCESSED' && !(allowDuplicate && ack.status === 'DUPLICATE'))
      return `status ${ack.status}`;
    if (this.checkOutcome && ack.status === 'PROCESSED' && ack.outcome !== d.outcome)
      return `outcome ${ack.outcome}, expected ${d.outcome}`;
    return null;
  }

  /** autocannon onResponse (a 200 that is not PROCESSED, or the wrong outcome, counts as bad). */
  onResponse(status, body, context) {
    const d = context.delivery;
    if (!d) return;
    context.delivery = null;
    this.inFlight.delete(d);
    const p = this.problem(d, status, body);
    if (p === null) {
      this.processed++;
    } else if (status === 200) {
      // Non-2xx answers are counted (and fail the run) by runLoad itself.
      this.bad++;
      this.firstBad ??= `${p} for ${d.body}`;
    }
  }

  /** After each load run: moves the cut-off deliveries aside; returns an error text or null. */
  endRun() {
    for (const d of this.inFlight) this.cutOff.push(d);
    this.inFlight.clear();
    if (this.bad === 0) return null;
    return `${this.bad} answers were 200 but wrong, first: ${this.firstBad}`;
  }

  /** Posts one delivery (signed now); throws unless the answer is right. */
  async deliver(url, d, allowDuplicate = false) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signedHeaders(this.secret, d.body) },
      body: d.body,
    });
    const text = await res.text();
    const p = this.problem(d, res.status, text, allowDuplicate);
    if (p !== null) throw new Error(`webhook ${d.id}: ${p}: ${text.slice(0, 300)}`);
    const { status } = JSON.parse(text);
    if (status === 'PROCESSED') this.processed++;
    else this.duplicates++;
    return status;
  }

  /** Redelivers the deliveries cut off in flight; returns { processed, duplicates }. */
  async redeliverCutOff(url) {
    const out = { processed: 0, duplicates: 0 };
    for (const d of this.cutOff.splice(0)) {
      this.cutOffTotal++;
      if ((await this.deliver(url, d, true)) === 'PROCESSED') out.processed++;
      else out.duplicates++;
    }
    return out;
  }

  /** Distinct deliveries acknowledged with a 200 (one row each is expected). */
  get acknowledged() {
    return this.processed + this.duplicates;
  }
}
