import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { honourRetryAfter } from '../common/retry-after.js';
import { AppConfig } from '../config/app-config.js';
import { OutboxStatus } from '../outbox/outbox-job.entity.js';
import { ClaimedJob, OutboxRepository } from '../outbox/outbox.repository.js';
import { replyRetryDelayMs } from '../outbox/outbox.worker.js';
import { describeError, PollingLoop } from '../outbox/polling-loop.js';
import {
  AttemptResult,
  CALLBACK_JOB,
  CallbackJobPayload,
  sendCallback,
  signedHeaders,
} from './callback-payload.js';
import { CallbackTrigger } from './callback-events.js';
import { CallbacksRepository, DeliveryOutcome, SubscriptionRow } from './callbacks.repository.js';

/** Time a claim covers beyond the longest possible attempt, for the outcome writes. */
const LEASE_MARGIN_MS = 30_000;
const SUBSCRIPTION_DELETED = 'callback subscription deleted';
const INVALID_PAYLOAD = 'invalid callback job payload';
const TRIGGERS = new Set<string>(Object.values(CallbackTrigger));

/** How long a claimed callback job stays reserved: one attempt, plus a margin. */
export function callbackLeaseMs(timeoutMs: number): number {
  return timeoutMs + LEASE_MARGIN_MS;
}

/** Delay before the next attempt after `attempts` failed ones: base × 2^(n-1), capped, ±10 %. */
export function callbackRetryDelayMs(
  attempts: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  return replyRetryDelayMs(attempts, baseMs, maxMs, random);
}

/** What to record after an attempt. */
export interface AttemptDecision {
  outcome: DeliveryOutcome;
  /** Only for RETRYING. */
  delayMs?: number;
  error: string | null;
}

/**
 * The outcome of an attempt: SUCCEEDED on 2xx; RETRYING on a retryable failure (network error,
 * timeout, 429, 5xx) when the next attempt still falls before give_up_at; GAVE_UP otherwise.
 * The next attempt comes after the backoff, or after the target's Retry-After (429, 503) when
 * that is longer and at most `retry.maxMs` (a longer one is ignored).
 */
export function decideAttempt(
  result: AttemptResult,
  attempts: number,
  giveUpAt: Date,
  nowMs: number,
  retry: { baseMs: number; maxMs: number },
  random: () => number = Math.random,
): AttemptDecision {
  if (result.ok) return { outcome: 'SUCCEEDED', error: null };
  if (!result.retryable) return { outcome: 'GAVE_UP', error: result.error };
  const backoffMs = callbackRetryDelayMs(attempts, retry.baseMs, retry.maxMs, random);
  const delayMs = honourRetryAfter(backoffMs, result.retryAfterMs, retry.maxMs);
  const error =
    delayMs > backoffMs
      ? `${result.error}; Retry-After ${Math.ceil(delayMs / 1000)} s`
      : result.error;
  if (nowMs + delayMs >= giveUpAt.getTime()) {
    return {
      outcome: 'GAVE_UP',
      error: `${error}; given up: not delivered within CALLBACK_GIVE_UP_AFTER_S`,
    };
  }
  return { outcome: 'RETRYING', delayMs, error };
}

function parsePayload(raw: unknown): CallbackJobPayload | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const p = raw as Record<string, unknown>;
  if (typeof p.subscription_id !== 'string' || typeof p.event_id !== 'string') return null;
  if (typeof p.body !== 'string' || typeof p.trigger !== 'string' || !TRIGGERS.has(p.trigger))
    return null;
  if (typeof p.sequence !== 'number') return null;
  return p as unknown as CallbackJobPayload;
}

/**
 * Delivers the queued callbacks (outbox_jobs of kind CALLBACK) to the subscriptions' targets,
 * signed with their secrets. Its own poll loop (same OUTBOX_WORKER_ENABLED,
 * OUTBOX_POLL_INTERVAL_MS and OUTBOX_BATCH_SIZE as the reply worker), so a slow target never
 * delays confirmation replies. Up to OUTBOX_BATCH_SIZE callbacks are in flight, each bounded by
 * CALLBACK_TIMEOUT_MS; a finished one frees its slot for the next claim at once, so a target that
 * never answers holds only its own slots, never the other subscriptions' deliveries. Nothing here
 * runs on a request path. Jobs in flight never include two callbacks of one subscription about
 * one identity: those are claimed one at a time, in order (see
 * OutboxRepository.claimDue and callbackOrderingKey), so an event is not attempted before the
 * one queued before it was delivered or given up.
 *
 * Each attempt is recorded in callback_deliveries, in the same transaction as the job's new state
 * (fenced by the claim's attempt number):
 * - 2xx: SUCCEEDED, job SENT;
 * - network error, timeout, 429, 5xx: RETRYING, job due again after 5 s (CALLBACK_RETRY_BASE_MS)
 *   doubling up to CALLBACK_RETRY_MAX_MS, or after a 429's / 503's Retry-After when longer (and
 *   not beyond CALLBACK_RETRY_MAX_MS); GAVE_UP (job FAILED) once the next attempt would fall
 *   after CALLBACK_GIVE_UP_AFTER_S;
 * - any other answer (other 4xx, 3xx): GAVE_UP at once.
 * The target URL and the secret are read when sending (an update applies to queued callbacks); a
 * deleted subscription's queued callbacks are dropped. Delivery is at least once: a worker that
 * dies after the target answered leaves the job to come back when its lease ends.
 */
@Injectable()
export class CallbackWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('CallbackWorker');
  private readonly loop: PollingLoop;

  constructor(
    private readonly config: AppConfig,
    private readonly outbox: OutboxRepository,
    private readonly repo: CallbacksRepository,
  ) {
    this.loop = new PollingLoop({
      name: 'callback',
      logger: this.logger,
      intervalMs: config.OUTBOX_POLL_INTERVAL_MS,
      slots: config.OUTBOX_BATCH_SIZE,
      claim: (limit) => this.claim(limit),
    });
  }

  onApplicationBootstrap(): void {
    if (this.config.OUTBOX_WORKER_ENABLED) this.loop.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /**
   * Claims due callbacks into the free slots and delivers them; resolves to how many jobs it
   * claimed once they are done.
   */
  runOnce(): Promise<number> {
    return this.loop.runOnce();
  }

  /** Claims up to `limit` due callbacks: one task each, run in parallel by the loop. */
  private async claim(limit: number): Promise<(() => Promise<void>)[]> {
    const jobs = await this.outbox.claimDue(
      CALLBACK_JOB,
      limit,
      callbackLeaseMs(this.config.CALLBACK_TIMEOUT_MS),
      'CALLBACK_GIVE_UP_AFTER_S',
    );
    if (jobs.length === 0) return [];
    const payloads = jobs.map((j) => parsePayload(j.payload));
    // If this lookup fails, the claimed jobs come back when their lease ends.
    const subscriptions = await this.repo.findByIds([
      ...new Set(payloads.flatMap((p) => (p ? [p.subscription_id] : []))),
    ]);
    return jobs.map((job, i) => {
      const payload = payloads[i] ?? null;
      const subscription = payload ? (subscriptions.get(payload.subscription_id) ?? null) : null;
      return () => this.process(job, payload, subscription);
    });
  }

  /** One claimed job, to its recorded outcome. Never throws. */
  private async process(
    job: ClaimedJob,
    payload: CallbackJobPayload | null,
    subscription: SubscriptionRow | null,
  ): Promise<void> {
    const ref = `callback job ${job.id} app=${job.app_id}`;
    try {
      if (!payload) {
        await this.outbox.markFailed(job.id, job.attempts, INVALID_PAYLOAD);
        this.logger.error(`${ref} has an invalid payload: FAILED`);
        return;
      }
      const delivery = {
        subscriptionId: payload.subscription_id,
        jobId: job.id,
        eventId: payload.event_id,
        trigger: payload.trigger,
      };
      if (job.expired) {
        // The claim already marked it FAILED (it came due after give_up_at): log why.
        if (subscription) {
          await this.repo.insertDelivery({
            ...delivery,
            attempt: job.attempts,
            outcome: 'GAVE_UP',
            httpStatus: null,
            error:
              'given up without another attempt: not delivered within CALLBACK_GIVE_UP_AFTER_S',
            durationMs: 0,
          });
        }
        this.logger.warn(`${ref} given up after ${job.attempts} attempt(s)`);
        return;
      }
      if (!subscription) {
        await this.outbox.markFailed(job.id, job.attempts, SUBSCRIPTION_DELETED);
        this.logger.log(`${ref} dropped: ${SUBSCRIPTION_DELETED}`);
        return;
      }
      const headers = signedHeaders(subscription.secret, payload.body);
      const result = await sendCallback(
        subscription.target_url,
        headers,
        payload.body,
        this.config.CALLBACK_TIMEOUT_MS,
      );
      const decision = decideAttempt(result, job.attempts, job.give_up_at, Date.now(), {
        baseMs: this.config.CALLBACK_RETRY_BASE_MS,
        maxMs: this.config.CALLBACK_RETRY_MAX_MS,
      });
      const recorded = await this.repo.inTransaction(async (client) => {
        let outcome = decision.outcome;
        let claimHeld: boolean;
        if (outcome === 'SUCCEEDED') {
          claimHeld = await this.outbox.markSent(job.id, job.attempts, client);
        } else if (outcome === 'GAVE_UP') {
          claimHeld = await this.outbox.markFailed(job.id, job.attempts, decision.error!, client);
        } else {
          const status = await this.outbox.scheduleRetry(
            job.id,
            job.attempts,
            decision.delayMs!,
            decision.error!,
            client,
          );
          claimHeld = status !== null;
          // The database clock says give_up_at has passed: this was the last attempt.
          if (status === OutboxStatus.FAILED) outcome = 'GAVE_UP';
        }
        // The attempt happened whether or not the claim still held: record it.
        await this.repo.insertDelivery(
          {
            ...delivery,
            attempt: job.attempts,
            outcome,
            httpStatus: result.status,
            error: decision.error,
            durationMs: result.durationMs,
          },
          client,
        );
        return { outcome, claimHeld };
      });
      const summary = `${ref} attempt ${job.attempts} ${recorded.outcome}${decision.error ? `: ${decision.error}` : ''}`;
      if (!recorded.claimHeld) {
        this.logger.warn(`${summary} (its claim had expired: another worker took the job)`);
      } else if (recorded.outcome === 'SUCCEEDED') {
        this.logger.debug(summary);
      } else {
        this.logger.warn(
          recorded.outcome === 'RETRYING'
            ? `${summary}; retry in ~${decision.delayMs} ms`
            : summary,
        );
      }
    } catch (e) {
      // Most likely the database went away: the lease brings the job back.
      this.logger.warn(
        `${ref}: could not record the outcome (${describeError(e)}); the job is retried after its lease`,
      );
    }
  }
}
