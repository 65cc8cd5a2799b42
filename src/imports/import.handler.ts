import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { JobStatus } from '../jobs/job.entity.js';
import {
  ClaimedJob,
  ClaimSpec,
  JobQueueRepository,
  OutcomeHook,
} from '../jobs/job-queue.repository.js';
import { JobHandler, JobRunner } from '../jobs/job-runner.js';
import { describeError, PollingTask } from '../jobs/polling-loop.js';
import { decideAttempt, RetryPolicy } from '../jobs/retry-policy.js';
import { IMPORT_JOB, ImportsService } from './imports.service.js';

/** Retries of an import whose chunk failed unexpectedly (the database went away, ...). */
export const IMPORT_RETRY: RetryPolicy = { baseMs: 5_000, maxMs: 300_000 };

/**
 * The import's FAILED status, in the statement that records its job's final failure (fenced like
 * it): an import is FAILED exactly when its job is, with the job's last error.
 */
export const failImport: OutcomeHook = (rows) => ({
  cte: `import_failed AS (
         UPDATE imports i SET status = 'FAILED', finished_at = now(), error = r.last_error
           FROM ${rows} r
          WHERE r.outcome = 'FAILED' AND i.import_id = r.payload->>'import_id'
            AND i.status = 'RUNNING')`,
  params: [],
});

function importIdOf(payload: unknown): string | null {
  const id = (payload as { import_id?: unknown } | null)?.import_id;
  return typeof id === 'string' ? id : null;
}

/**
 * Applies imports (jobs of kind IMPORT, one per import, queued with its upload): the import
 * handler of the JobRunner. A job applies its import's parts side by side (IMPORT_APPLY_PARTS),
 * each chunk after chunk (ImportsService.applyNextChunk), renewing its lease
 * (IMPORT_JOB_LEASE_MS) before each, so a long import is not claimed by another worker while its
 * worker lives; after a crash the lease runs out and the next claim resumes from the parts'
 * cursors (a chunk is one transaction with its part's cursor move, so none is applied twice). An unexpected error is retried (5 s doubling to 5
 * minutes); a job not done within a day is given up and its import marked FAILED with the last
 * error (failImport). When the service shuts down, a job stops after its chunk in progress and
 * gives its claim back, so that the next claim (here after a restart, or another instance)
 * resumes at once.
 */
@Injectable()
export class ImportHandler implements JobHandler, OnModuleInit {
  readonly name = 'import';
  readonly claim: ClaimSpec;
  private readonly logger = new Logger('ImportWorker');

  constructor(
    private readonly config: AppConfig,
    private readonly queue: JobQueueRepository,
    private readonly runner: JobRunner,
    private readonly imports: ImportsService,
  ) {
    this.claim = {
      kind: IMPORT_JOB,
      leaseMs: config.IMPORT_JOB_LEASE_MS,
      giveUpSetting: 'a day (import jobs)',
      onClaimOutcome: failImport,
    };
  }

  onModuleInit(): void {
    this.runner.register(this);
  }

  tasks(jobs: ClaimedJob[]): Promise<PollingTask[]> {
    return Promise.resolve(jobs.map((job) => () => this.process(job)));
  }

  /** One claimed job, to its recorded outcome. Never throws. */
  private async process(job: ClaimedJob): Promise<void> {
    const importId = importIdOf(job.payload);
    const ref = `import job ${job.id} import=${importId ?? '?'} app=${job.app_id}`;
    try {
      if (job.expired) {
        this.logger.warn(`${ref} given up after ${job.attempts} attempt(s): FAILED`);
        return;
      }
      if (!importId) {
        await this.queue.markFailed(job.id, job.attempts, 'invalid import job payload');
        this.logger.error(`${ref} has an invalid payload: FAILED`);
        return;
      }
      let outcome: 'done' | 'gone' | 'lost' | 'stopped';
      try {
        outcome = await this.applyParts(job, importId);
      } catch (e) {
        const decision = decideAttempt(
          { ok: false, retryable: true, error: describeError(e) },
          job.attempts,
          IMPORT_RETRY,
        );
        const status = await this.queue.scheduleRetry(
          job.id,
          job.attempts,
          decision.delayMs!,
          decision.error!,
          undefined,
          failImport,
        );
        this.logger.warn(
          status === JobStatus.FAILED
            ? `${ref} attempt ${job.attempts} failed: ${decision.error}; given up: FAILED`
            : `${ref} attempt ${job.attempts} failed: ${decision.error}; retry in ~${decision.delayMs} ms`,
        );
        return;
      }
      if (outcome === 'gone') {
        await this.queue.markFailed(job.id, job.attempts, 'the import no longer exists');
        return;
      }
      if (outcome === 'lost') {
        this.logger.warn(`${ref}: its claim expired, another worker goes on`);
        return;
      }
      if (outcome === 'stopped') {
        // Shutting down: the next worker resumes from the parts' cursors at once.
        const released = await this.queue.releaseClaim(job.id, job.attempts);
        this.logger.log(
          `${ref}: stopped between two chunks (shutting down)${released ? '; it resumes on the next claim' : ''}`,
        );
        return;
      }
      await this.queue.markSent(job.id, job.attempts);
      this.logger.log(`${ref} SUCCEEDED`);
    } catch (e) {
      this.logger.warn(
        `${ref}: could not record the outcome (${describeError(e)}); the job is retried after its lease`,
      );
    }
  }

  /**
   * Applies the import's parts side by side (ImportsService.startParts), each chunk after chunk,
   * the job's lease renewed before every chunk. Once one part's loop meets a problem (an error,
   * the claim lost, the import gone, the service stopping) the others stop after their chunk in
   * progress; an error is thrown once they all have.
   */
  private async applyParts(
    job: ClaimedJob,
    importId: string,
  ): Promise<'done' | 'gone' | 'lost' | 'stopped'> {
    const parts = await this.imports.startParts(importId);
    if (parts === 'gone' || parts === 'done') return parts;
    let stop: 'gone' | 'lost' | 'stopped' | 'failed' | null = null;
    const loop = async (part: number): Promise<void> => {
      try {
        for (;;) {
          if (stop) return;
          if (
            !(await this.queue.extendLease(job.id, job.attempts, this.config.IMPORT_JOB_LEASE_MS))
          ) {
            stop ??= 'lost';
            return;
          }
          const result = await this.imports.applyNextChunk(importId, part);
          if (result === 'gone') {
            stop ??= 'gone';
            return;
          }
          if (result === 'done') return;
          if (this.runner.stopping) {
            stop ??= 'stopped';
            return;
          }
        }
      } catch (e) {
        stop = 'failed';
        throw e;
      }
    };
    const settled = await Promise.allSettled(parts.map(loop));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return stop ?? 'done';
  }
}
