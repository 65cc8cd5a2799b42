import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { replyOutcomeAudit } from '../audit/audit-sql.js';
import { AppConfig } from '../config/app-config.js';
import { JobStatus } from '../jobs/job.entity.js';
import { ClaimedJob, JobQueueRepository, OutcomeHook } from '../jobs/job-queue.repository.js';
import { JobHandler, JobRunner } from '../jobs/job-runner.js';
import { describeError, PollingTask } from '../jobs/polling-loop.js';
import { decideAttempt } from '../jobs/retry-policy.js';
import { Metrics } from '../metrics/metrics.js';
import { SinchClient } from '../sinch/sinch-client.js';
import { SINCH_CLIENT } from '../sinch/sinch.module.js';
import { clipError, parseReplyPayload, safeJobError, SINCH_REPLY } from './reply-payload.js';

export const NO_CREDENTIALS_ERROR = 'Sinch credentials are not configured';
const INVALID_PAYLOAD_ERROR = 'invalid reply job payload';
/** Time a claim covers beyond the longest possible send, for the outcome write. */
const LEASE_MARGIN_MS = 30_000;

/**
 * How long a claimed job stays reserved: a send may take up to four Sinch requests (token,
 * messages:send, and once more each after a 401), each bounded by SINCH_TIMEOUT_MS.
 */
export function leaseMs(sinchTimeoutMs: number): number {
  return 4 * sinchTimeoutMs + LEASE_MARGIN_MS;
}

/** The reply's outcome audit record, in the statement that records its final outcome. */
const auditOutcome =
  (sinchMessageId?: string): OutcomeHook =>
  (rows, first) =>
    sinchMessageId === undefined
      ? { cte: replyOutcomeAudit('reply_audit', rows, 'true'), params: [] }
      : {
          cte: replyOutcomeAudit(
            'reply_audit',
            rows,
            'true',
            `jsonb_build_object('sinch_message_id', $${first}::text)`,
          ),
          params: [sinchMessageId],
        };

/**
 * Sends the queued confirmation replies (jobs of kind SINCH_REPLY) through Sinch: the reply
 * handler of the JobRunner, with its own OUTBOX_BATCH_SIZE slots. Jobs in flight never include two
 * replies to one recipient, because each reply carries its recipient's ordering key (project,
 * app, channel, normalised identity) and the claim takes a job only when no older job of its key
 * is PENDING. So one recipient's replies go out one at a time, in the order they were queued,
 * across batches, retries and instances (an opt-out confirmation is not overtaken by the HELP
 * text asked for right after it, even while the confirmation is being retried). Each claimed
 * job's outcome:
 * - accepted by Sinch: SENT;
 * - retryable failure (network, timeout, 429, 5xx) before give_up_at: PENDING again after the
 *   backoff, or after Sinch's Retry-After (429, 503) when that is longer and at most
 *   REPLY_RETRY_MAX_MS (never later than give_up_at); at or after give_up_at: FAILED;
 * - non-retryable failure (e.g. 400, 403, a bad token request): FAILED at once;
 * - no Sinch credentials configured: a retryable failure ("Sinch credentials are not
 *   configured"), so that replies wait visibly until give_up_at;
 * - still due at give_up_at: FAILED by the claim, without another attempt (a late confirmation
 *   would confuse);
 * - an opt-out confirmation whose previous attempt never recorded an outcome (the worker died
 *   during the send, or the database went away before the outcome was written): IN_DOUBT by the
 *   claim, never sent again (the FCC allows one confirmation). HELP and opt-in replies are sent
 *   again instead (at least once).
 * SENT, FAILED and IN_DOUBT are final: each appends one audit record (REPLY_SENT, REPLY_FAILED,
 * REPLY_IN_DOUBT) in the statement that records it, fenced like it, so a job has exactly one
 * whatever the retries. Logs carry ids only, never identities or message texts.
 */
@Injectable()
export class ReplyHandler implements JobHandler, OnModuleInit {
  readonly name = 'reply';
  readonly claim;
  private readonly logger = new Logger('ReplyWorker');

  constructor(
    private readonly config: AppConfig,
    private readonly queue: JobQueueRepository,
    private readonly runner: JobRunner,
    @Inject(SINCH_CLIENT) private readonly sinch: SinchClient | null,
    private readonly metrics: Metrics,
  ) {
    this.claim = {
      kind: SINCH_REPLY,
      leaseMs: leaseMs(config.SINCH_TIMEOUT_MS),
      giveUpSetting: 'REPLY_GIVE_UP_AFTER_S',
      onClaimOutcome: auditOutcome(),
    };
  }

  onModuleInit(): void {
    this.runner.register(this);
  }

  /**
   * A claim never takes a job while an older one of its recipient (ordering key) is PENDING, in
   * flight included: all in parallel.
   */
  tasks(jobs: ClaimedJob[]): Promise<PollingTask[]> {
    return Promise.resolve(jobs.map((job) => () => this.process(job)));
  }

  /** One claimed job, to its recorded outcome. Never throws. */
  private async process(job: ClaimedJob): Promise<void> {
    const ref = `reply job ${job.id} project=${job.project_id} app=${job.app_id}`;
    try {
      if (job.in_doubt) {
        this.metrics.replies.inc({ outcome: 'IN_DOUBT' });
        this.logger.warn(
          `${ref}: attempt ${job.attempts} was interrupted before its outcome was recorded: IN_DOUBT, not sent again`,
        );
        return;
      }
      if (job.expired) {
        this.metrics.replies.inc({ outcome: 'FAILED' });
        this.logger.warn(`${ref} given up after ${job.attempts} attempt(s): FAILED`);
        return;
      }
      const payload = parseReplyPayload(job.payload);
      if (!payload) {
        if (
          await this.queue.markFailed(
            job.id,
            job.attempts,
            INVALID_PAYLOAD_ERROR,
            undefined,
            auditOutcome(),
          )
        )
          this.metrics.replies.inc({ outcome: 'FAILED' });
        this.logger.error(`${ref} has an invalid payload: FAILED`);
        return;
      }
      const outcome = this.sinch
        ? await this.sinch.sendText({
            appId: job.app_id,
            channel: payload.channel,
            identity: payload.identity,
            text: payload.text,
            correlationId: job.id,
          })
        : ({ ok: false, retryable: true, error: NO_CREDENTIALS_ERROR } as const);
      if (outcome.ok) {
        const recorded = await this.queue.markSent(
          job.id,
          job.attempts,
          undefined,
          auditOutcome(outcome.messageId),
        );
        if (recorded) {
          this.metrics.replies.inc({ outcome: 'SENT' });
          this.logger.log(
            `${ref} sent (attempt ${job.attempts}, Sinch message ${outcome.messageId})`,
          );
        } else {
          this.logger.warn(`${ref} sent, but its claim had expired (another worker took it)`);
        }
        return;
      }
      const decision = decideAttempt(
        { ...outcome, error: safeJobError(outcome.error, payload) },
        job.attempts,
        { baseMs: this.config.REPLY_RETRY_BASE_MS, maxMs: this.config.REPLY_RETRY_MAX_MS },
      );
      const error = clipError(decision.error!);
      if (decision.outcome === 'GAVE_UP') {
        if (await this.queue.markFailed(job.id, job.attempts, error, undefined, auditOutcome()))
          this.metrics.replies.inc({ outcome: 'FAILED' });
        this.logger.warn(`${ref} failed (attempt ${job.attempts}, not retryable): ${error}`);
        return;
      }
      // The audit record is written only if this failure is final (past give_up_at).
      const status = await this.queue.scheduleRetry(
        job.id,
        job.attempts,
        decision.delayMs!,
        error,
        undefined,
        auditOutcome(),
      );
      if (status === JobStatus.FAILED) {
        this.metrics.replies.inc({ outcome: 'FAILED' });
        this.logger.warn(`${ref} failed (attempt ${job.attempts}, past give_up_at): ${error}`);
      } else if (status === JobStatus.PENDING) {
        // Missing credentials were reported once at boot: no warning per job and attempt.
        const level = error === NO_CREDENTIALS_ERROR ? 'debug' : 'warn';
        this.logger[level](
          `${ref} attempt ${job.attempts} failed, retry in ~${decision.delayMs} ms: ${error}`,
        );
      } else {
        this.logger.warn(`${ref} attempt ${job.attempts} failed, but its claim had expired`);
      }
    } catch (e) {
      // Most likely the database went away after the send: the lease brings the job back.
      this.logger.warn(
        `${ref}: could not record the outcome (${describeError(e)}); the job comes back after its lease`,
      );
    }
  }
}
