import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { JobStatus } from '../jobs/job.entity.js';
import { ClaimedJob, ClaimSpec, JobQueueRepository } from '../jobs/job-queue.repository.js';
import { JobHandler, JobRunner } from '../jobs/job-runner.js';
import { describeError, PollingTask } from '../jobs/polling-loop.js';
import { decideAttempt } from '../jobs/retry-policy.js';
import { Metrics } from '../metrics/metrics.js';
import {
  CALLBACK_JOB,
  CallbackJobPayload,
  sendCallback,
  signedHeaders,
} from './callback-payload.js';
import { CallbackTrigger } from './callback-events.js';
import { CallbacksRepository, SubscriptionRow } from './callbacks.repository.js';

/** Time a claim covers beyond the longest possible attempt, for the outcome writes. */
const LEASE_MARGIN_MS = 30_000;
const SUBSCRIPTION_DELETED = 'callback subscription deleted';
const INVALID_PAYLOAD = 'invalid callback job payload';
const TRIGGERS = new Set<string>(Object.values(CallbackTrigger));

/** How long a claimed callback job stays reserved: one attempt, plus a margin. */
export function callbackLeaseMs(timeoutMs: number): number {
  return timeoutMs + LEASE_MARGIN_MS;
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
 * signed with their secrets. The callback handler of the JobRunner: its own poll loop and
 * OUTBOX_BATCH_SIZE slots, beside the replies', so a slow target never delays confirmation
 * replies. Up to OUTBOX_BATCH_SIZE callbacks are in flight, each bounded by
 * CALLBACK_TIMEOUT_MS; a finished one frees its slot for the next claim at once, so a target that
 * never answers holds only its own slots, never the other subscriptions' deliveries. Nothing here
 * runs on a request path. Jobs in flight never include two callbacks of one subscription about
 * one identity: those are claimed one at a time, in order (see
 * JobQueueRepository.claimDue and callbackOrderingKey), so an event is not attempted before the
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
export class CallbackHandler implements JobHandler, OnModuleInit {
  readonly name = 'callback';
  readonly claim: ClaimSpec;
  private readonly logger = new Logger('CallbackWorker');

  constructor(
    private readonly config: AppConfig,
    private readonly queue: JobQueueRepository,
    private readonly repo: CallbacksRepository,
    private readonly runner: JobRunner,
    private readonly metrics: Metrics,
  ) {
    this.claim = {
      kind: CALLBACK_JOB,
      leaseMs: callbackLeaseMs(config.CALLBACK_TIMEOUT_MS),
      giveUpSetting: 'CALLBACK_GIVE_UP_AFTER_S',
    };
  }

  onModuleInit(): void {
    this.runner.register(this);
  }

  /** One task per claimed callback, with its subscription read once for the batch. */
  async tasks(jobs: ClaimedJob[]): Promise<PollingTask[]> {
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
        await this.queue.markFailed(job.id, job.attempts, INVALID_PAYLOAD);
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
          this.metrics.callbackDeliveries.inc({ outcome: 'GAVE_UP' });
        }
        this.logger.warn(`${ref} given up after ${job.attempts} attempt(s)`);
        return;
      }
      if (!subscription) {
        await this.queue.markFailed(job.id, job.attempts, SUBSCRIPTION_DELETED);
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
      const decision = decideAttempt(
        result,
        job.attempts,
        { baseMs: this.config.CALLBACK_RETRY_BASE_MS, maxMs: this.config.CALLBACK_RETRY_MAX_MS },
        { at: job.give_up_at, nowMs: Date.now(), setting: 'CALLBACK_GIVE_UP_AFTER_S' },
      );
      const recorded = await this.repo.inTransaction(async (client) => {
        let outcome = decision.outcome;
        let claimHeld: boolean;
        if (outcome === 'SUCCEEDED') {
          claimHeld = await this.queue.markSent(job.id, job.attempts, client);
        } else if (outcome === 'GAVE_UP') {
          claimHeld = await this.queue.markFailed(job.id, job.attempts, decision.error!, client);
        } else {
          const status = await this.queue.scheduleRetry(
            job.id,
            job.attempts,
            decision.delayMs!,
            decision.error!,
            client,
          );
          claimHeld = status !== null;
          // The database clock says give_up_at has passed: this was the last attempt.
          if (status === JobStatus.FAILED) outcome = 'GAVE_UP';
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
      this.metrics.callbackDeliveries.inc({ outcome: recorded.outcome });
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
