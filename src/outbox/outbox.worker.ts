import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { honourRetryAfter } from '../common/retry-after.js';
import { AppConfig } from '../config/app-config.js';
import { LIST_TYPES, ListType } from '../consent/domain/consent-types.js';
import { InvalidIdentityError, normalizeIdentity } from '../consent/domain/identity.js';
import { SinchClient } from '../sinch/sinch-client.js';
import { SINCH_CLIENT } from '../sinch/sinch.module.js';
import { OutboxStatus } from './outbox-job.entity.js';
import { describeError, PollingLoop } from './polling-loop.js';
import {
  ClaimedJob,
  MAX_LAST_ERROR_CHARS,
  OutboxRepository,
  ReplyAudit,
  SinchReplyPayload,
} from './outbox.repository.js';

export const NO_CREDENTIALS_ERROR = 'Sinch credentials are not configured';
const INVALID_PAYLOAD_ERROR = 'invalid reply job payload';
/** Time a claim covers beyond the longest possible send, for the outcome write. */
const LEASE_MARGIN_MS = 30_000;

/**
 * Delay before the next attempt after `attempts` failed ones: base × 2^(attempts-1), at most
 * `maxMs`, with ±10 % jitter so that jobs failed together do not come back together.
 */
export function replyRetryDelayMs(
  attempts: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, attempts - 1);
  const delay = Math.min(baseMs * 2 ** exponent, maxMs);
  return Math.max(1, Math.round(delay * (0.9 + 0.2 * random())));
}

/**
 * How long a claimed job stays reserved: a send may take up to four Sinch requests (token,
 * messages:send, and once more each after a 401), each bounded by SINCH_TIMEOUT_MS.
 */
export function leaseMs(sinchTimeoutMs: number): number {
  return 4 * sinchTimeoutMs + LEASE_MARGIN_MS;
}

/**
 * An error string safe to store and log: without the message text or the recipient identity
 * (the Sinch client already redacts them; this is the second line of defence), at most 500 chars.
 */
export function safeJobError(
  error: string,
  payload: Pick<SinchReplyPayload, 'text' | 'identity'>,
): string {
  let out = error;
  for (const secret of [payload.text, payload.identity]) {
    const s = typeof secret === 'string' ? secret.trim() : '';
    if (s.length >= 4) out = out.split(s).join('[redacted]');
  }
  return safeLastError(out);
}

function safeLastError(s: string): string {
  return s.length <= MAX_LAST_ERROR_CHARS ? s : `${s.slice(0, MAX_LAST_ERROR_CHARS - 1)}…`;
}

function parsePayload(raw: unknown): SinchReplyPayload | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const p = raw as Record<string, unknown>;
  for (const key of ['channel', 'identity', 'text', 'inbound_message_id', 'action', 'language']) {
    if (typeof p[key] !== 'string') return null;
  }
  if (!p.channel || !p.identity || !p.text) return null;
  return p as unknown as SinchReplyPayload;
}

/**
 * The audit record of a reply job's final outcome, or null when the payload names no usable
 * identity. Built from the payload's known fields only: never the reply text.
 */
export function replyAudit(
  job: Pick<ClaimedJob, 'id' | 'payload' | 'attempts'>,
  outcome: { sinchMessageId: string } | { lastError: string },
): ReplyAudit | null {
  const p = (typeof job.payload === 'object' && job.payload !== null ? job.payload : {}) as Record<
    string,
    unknown
  >;
  const text = (key: string): string | null => (typeof p[key] === 'string' ? p[key] : null);
  let identity: string;
  try {
    // The consent change used the normalised identity; older jobs carry only Sinch's.
    identity = normalizeIdentity(text('normalized_identity') ?? p.identity);
  } catch (e) {
    if (e instanceof InvalidIdentityError) return null;
    throw e;
  }
  const listType = text('list_type');
  const action = text('action');
  const sent = 'sinchMessageId' in outcome;
  return {
    identity,
    listType:
      listType && (LIST_TYPES as string[]).includes(listType) ? (listType as ListType) : null,
    reason: `confirmation reply (${action ?? 'unknown'}) ${sent ? 'accepted by Sinch' : 'not delivered'}`,
    evidence: {
      reply_job_id: job.id,
      inbound_message_id: text('inbound_message_id'),
      action,
      language: text('language'),
      channel: text('channel'),
      attempts: job.attempts,
      ...(sent ? { sinch_message_id: outcome.sinchMessageId } : { last_error: outcome.lastError }),
    },
  };
}

/**
 * Sends the queued confirmation replies (outbox_jobs of kind SINCH_REPLY) through Sinch.
 *
 * When OUTBOX_WORKER_ENABLED, a PollingLoop keeps up to OUTBOX_BATCH_SIZE replies in flight: it
 * claims only into free slots, and a slot freed by a finished send is claimed again at once after
 * a full claim (else on the OUTBOX_POLL_INTERVAL_MS timer), so a slow send holds only its own slot.
 * Claims of one instance never overlap; several instances share the table safely (see
 * OutboxRepository.claimDueReplies). Jobs in flight never include two replies to one recipient,
 * because each reply carries its recipient's ordering key (project, app, channel, normalised
 * identity) and the claim takes a job only when no older job of its key is PENDING. So one recipient's replies go out one at a time, in the order they were queued, across
 * batches, retries and instances (an opt-out confirmation is not overtaken by the HELP text asked
 * for right after it, even while the confirmation is being retried). Each claimed job's outcome:
 * - accepted by Sinch: SENT;
 * - retryable failure (network, timeout, 429, 5xx) before give_up_at: PENDING again after
 *   replyRetryDelayMs, or after Sinch's Retry-After (429, 503) when that is longer and at most
 *   REPLY_RETRY_MAX_MS (never later than give_up_at); at or after give_up_at: FAILED;
 * - non-retryable failure (e.g. 400, 403, a bad token request): FAILED at once;
 * - no Sinch credentials configured: a retryable failure ("Sinch credentials are not
 *   configured"), so that replies wait visibly until give_up_at;
 * - still due at give_up_at: FAILED without another attempt (a late confirmation would confuse).
 * SENT and FAILED are final: each appends one audit record (REPLY_SENT / REPLY_FAILED) in the
 * statement that records it, fenced like it, so a job has exactly one whatever the retries.
 * Logs carry ids only, never identities or message texts. A database outage is logged at warn and
 * the next tick tries again.
 */
@Injectable()
export class OutboxWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('OutboxWorker');
  private readonly loop: PollingLoop;

  constructor(
    private readonly config: AppConfig,
    private readonly outbox: OutboxRepository,
    @Inject(SINCH_CLIENT) private readonly sinch: SinchClient | null,
  ) {
    this.loop = new PollingLoop({
      name: 'outbox',
      logger: this.logger,
      intervalMs: config.OUTBOX_POLL_INTERVAL_MS,
      slots: config.OUTBOX_BATCH_SIZE,
      claim: (limit) => this.claim(limit),
    });
  }

  onApplicationBootstrap(): void {
    if (!this.config.OUTBOX_WORKER_ENABLED) {
      this.logger.log('outbox worker disabled (OUTBOX_WORKER_ENABLED=false)');
      return;
    }
    this.loop.start();
  }

  /** Stops polling and waits for the jobs in flight (before the database pool closes). */
  async beforeApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /**
   * Claims due jobs into the free slots and processes them; resolves to how many were claimed
   * (sent, retried, failed or given up) once they are done. Never claims alongside another claim
   * of this instance. Rejects only when the claim itself fails (e.g. the database is unreachable).
   */
  runOnce(): Promise<number> {
    return this.loop.runOnce();
  }

  /** Claims up to `limit` due jobs: one task each, run in parallel by the loop. */
  private async claim(limit: number): Promise<(() => Promise<void>)[]> {
    const jobs = await this.outbox.claimDueReplies(limit, leaseMs(this.config.SINCH_TIMEOUT_MS));
    // A claim never takes a job while an older one of its recipient (ordering key) is PENDING,
    // in flight included: all in parallel.
    return jobs.map((job) => () => this.process(job));
  }

  /** One claimed job, to its recorded outcome. Never throws. */
  private async process(job: ClaimedJob): Promise<void> {
    const ref = `reply job ${job.id} project=${job.project_id} app=${job.app_id}`;
    try {
      if (job.expired) {
        this.logger.warn(`${ref} given up after ${job.attempts} attempt(s): FAILED`);
        return;
      }
      const payload = parsePayload(job.payload);
      if (!payload) {
        await this.failFinally(job, INVALID_PAYLOAD_ERROR);
        this.logger.error(`${ref} has an invalid payload: FAILED`);
        return;
      }
      if (!this.sinch) {
        await this.retry(job, ref, NO_CREDENTIALS_ERROR);
        return;
      }
      const outcome = await this.sinch.sendText({
        appId: job.app_id,
        channel: payload.channel,
        identity: payload.identity,
        text: payload.text,
        correlationId: job.id,
      });
      if (outcome.ok) {
        const recorded = await this.outbox.markSent(
          job.id,
          job.attempts,
          undefined,
          replyAudit(job, { sinchMessageId: outcome.messageId }) ?? undefined,
        );
        if (recorded) {
          this.logger.log(
            `${ref} sent (attempt ${job.attempts}, Sinch message ${outcome.messageId})`,
          );
        } else {
          this.logger.warn(`${ref} sent, but its claim had expired (another worker took it)`);
        }
        return;
      }
      const error = safeJobError(outcome.error, payload);
      if (outcome.retryable) {
        await this.retry(job, ref, error, outcome.retryAfterMs);
        return;
      }
      await this.failFinally(job, error);
      this.logger.warn(`${ref} failed (attempt ${job.attempts}, not retryable): ${error}`);
    } catch (e) {
      // Most likely the database went away after the send: the lease brings the job back.
      this.logger.warn(
        `${ref}: could not record the outcome (${describeError(e)}); the job is retried after its lease`,
      );
    }
  }

  /** Records the claimed attempt as finally FAILED, with its REPLY_FAILED audit record. */
  private failFinally(job: ClaimedJob, error: string): Promise<boolean> {
    return this.outbox.markFailed(
      job.id,
      job.attempts,
      error,
      undefined,
      replyAudit(job, { lastError: error }) ?? undefined,
    );
  }

  private async retry(
    job: ClaimedJob,
    ref: string,
    failure: string,
    retryAfterMs?: number,
  ): Promise<void> {
    const backoff = replyRetryDelayMs(
      job.attempts,
      this.config.REPLY_RETRY_BASE_MS,
      this.config.REPLY_RETRY_MAX_MS,
    );
    const delay = honourRetryAfter(backoff, retryAfterMs, this.config.REPLY_RETRY_MAX_MS);
    const error =
      delay > backoff
        ? safeLastError(`${failure}; Retry-After ${Math.ceil(delay / 1000)} s`)
        : failure;
    // The audit record is written only if this failure is final (past give_up_at).
    const status = await this.outbox.scheduleRetry(
      job.id,
      job.attempts,
      delay,
      error,
      undefined,
      replyAudit(job, { lastError: error }) ?? undefined,
    );
    if (status === OutboxStatus.FAILED) {
      this.logger.warn(`${ref} failed (attempt ${job.attempts}, past give_up_at): ${error}`);
    } else if (status === OutboxStatus.PENDING) {
      // Missing credentials were reported once at boot: no warning per job and attempt.
      const level = error === NO_CREDENTIALS_ERROR ? 'debug' : 'warn';
      this.logger[level](`${ref} attempt ${job.attempts} failed, retry in ~${delay} ms: ${error}`);
    } else {
      this.logger.warn(`${ref} attempt ${job.attempts} failed, but its claim had expired`);
    }
  }
}
