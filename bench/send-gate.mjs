// The send-gate load, shared by run.mjs: Sinch messages:send bodies to identities that the seed
// leaves allowed for CONTENT_NOTIFICATION (so every send is forwarded), the fake Sinch's
// credentials, and the bookkeeping that checks every answer and, after each run, the fake's count.
import { randomBytes } from 'node:crypto';
import {
  APP_ID,
  IDENTITY_COUNT,
  MISS_RATE,
  PROJECT_ID,
  hitIdentity,
  missIdentity,
  seededOptOuts,
} from './workload.mjs';

export const SEND_CONTENT_TYPE = 'CONTENT_NOTIFICATION';
export const SEND_TEXT = 'Your code is 1234';
/** messages:send, on the service and on the fake Sinch alike. */
export const SEND_PATH = `/v1/projects/${PROJECT_ID}/messages:send`;
/** The fake Sinch's access key (the service's SINCH_KEY_ID / SINCH_KEY_SECRET): one per run. */
export const SINCH_KEY_ID = `bench-key-${randomBytes(6).toString('hex')}`;
export const SINCH_KEY_SECRET = `bench-secret-${randomBytes(18).toString('hex')}`;

/** The lists that stop CONTENT_NOTIFICATION (the service's decision matrix). */
const STOPS_NOTIFICATION = new Set(['OPT_OUT_ALL', 'OPT_OUT_NOTIFICATION']);
const notificationLists = (g) => seededOptOuts(g).filter((l) => STOPS_NOTIFICATION.has(l));

/**
 * Seeded identity numbers whose rows do not stop CONTENT_NOTIFICATION: identities on
 * OPT_OUT_MARKETING only, or opted back in on their first list with no second list that stops it
 * (34,762 of the 100,000). The gate's consent query finds no row for them either way (it only
 * fetches the lists that stop the content type), as for the misses.
 */
const ALLOWED = (() => {
  const out = [];
  for (let g = 1; g <= IDENTITY_COUNT; g++) if (notificationLists(g).length === 0) out.push(g);
  return Uint32Array.from(out);
})();
export const ALLOWED_SEEDED_COUNT = ALLOWED.length;

/** A random identity for a send: an allowed seeded one, or (MISS_RATE of the time) an unseeded one. */
export function randomSendIdentity() {
  if (Math.random() < MISS_RATE) {
    return missIdentity(1 + Math.floor(Math.random() * IDENTITY_COUNT));
  }
  return hitIdentity(ALLOWED[Math.floor(Math.random() * ALLOWED.length)]);
}

/** The first seeded identity that is on exactly `list` and no other list (for the blocked check). */
export function blockedIdentity(list) {
  for (let g = 1; g <= IDENTITY_COUNT; g++) {
    const lists = seededOptOuts(g);
    if (lists.length === 1 && lists[0] === list) return hitIdentity(g);
  }
  throw new Error(`no seeded identity on ${list} only`);
}

/** Sinch's SendMessageRequest: one SMS channel identity, a text message, CONTENT_NOTIFICATION. */
export const sendBody = (identity) =>
  JSON.stringify({
    app_id: APP_ID,
    recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity }] } },
    message: { text_message: { text: SEND_TEXT } },
    message_content_type: SEND_CONTENT_TYPE,
  });

/** The fake Sinch's answer to a send (passed through unchanged by the gate). */
export const SENT_ANSWER = /^\{"message_id":"[0-9A-F]{26}","accepted_time":"[^"]+"\}$/;

/**
 * The send traffic to one target (gate or direct): a new body per request, every answer checked
 * (200 and the fake's `{"message_id", "accepted_time"}` body), answers counted so that run.mjs
 * can compare them with the sends the fake accepted.
 */
export class SendTraffic {
  constructor() {
    /** Answers that were 200 with a message id, over all runs. */
    this.accepted = 0;
    this.runAccepted = 0;
    this.bad = 0;
    this.firstBad = null;
    this.setupRequest = this.setupRequest.bind(this);
    this.onResponse = this.onResponse.bind(this);
  }

  setupRequest(req) {
    req.body = sendBody(randomSendIdentity());
    return req;
  }

  onResponse(status, body) {
    if (status === 200 && SENT_ANSWER.test(body)) {
      this.accepted++;
      this.runAccepted++;
    } else if (status >= 200 && status < 300) {
      // Non-2xx answers are counted (and fail the run) by runLoad itself.
      this.bad++;
      this.firstBad ??= `HTTP ${status}: ${String(body).slice(0, 200)}`;
    }
  }

  /** Starts a run's count; returns the answers accepted in the previous one. */
  startRun() {
    const n = this.runAccepted;
    this.runAccepted = 0;
    return n;
  }

  /** After each run: an error text, or null. */
  endRun() {
    if (this.bad === 0) return null;
    return `${this.bad} answers were 2xx but not a 200 with a message_id, first: ${this.firstBad}`;
  }
}
