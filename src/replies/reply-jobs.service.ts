import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { ApiError } from '../common/api-error.js';
import { ConsentService } from '../consent/consent.service.js';
import { encodePageToken, readPageToken } from '../kernel/page-token.js';
import type { AppRef } from '../kernel/app-ref.js';
import { JobStatus } from '../jobs/job.entity.js';
import { ReplyJobRow, ReplyQueue } from './reply-queue.js';
import type { ReplyJobDto, ReplyRedeliveryDto } from './dto/reply-jobs.dto.js';

/** Read side of the reply jobs, for operators. */
@Injectable()
export class ReplyJobsService {
  private readonly logger = new Logger('ReplyJobs');

  constructor(
    private readonly replies: ReplyQueue,
    private readonly consents: ConsentService,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /**
   * Sends a FAILED confirmation reply again, as a new job (its own retries, at the end of the
   * recipient's queue), when that cannot mislead or duplicate: the job must be FAILED (Sinch
   * never accepted it: a SENT one was accepted, an IN_DOUBT one may have reached the recipient
   * and is never sent again), not already redelivered (by a job that did not fail), and, for an
   * opt-out or opt-in confirmation, still true (the identity is still off, or on, that list).
   */
  async redeliver(app: AppRef, jobId: string): Promise<ReplyRedeliveryDto> {
    // The consent is read first, outside the transaction (the embedded database serves one
    // connection at a time, and the transaction holds it); the job is then locked and checked.
    const seen = await this.dataSource.transaction((tx) =>
      this.replies.lockForRedelivery(tx, app, jobId),
    );
    if (!seen) throw ApiError.notFound(`No reply job ${jobId} in this app.`);
    const p = seen.payload;
    if (
      seen.status === JobStatus.FAILED &&
      (p.action === 'OPT_OUT' || p.action === 'OPT_IN') &&
      p.list_type
    ) {
      const identity = p.normalized_identity ?? this.consents.normalize(p.identity, 'identity');
      const state = await this.consents.identityState(app, identity);
      const onList = state.lists.some((l) => l.list_type === p.list_type);
      if (onList !== (p.action === 'OPT_OUT')) {
        throw ApiError.failedPrecondition(
          `Reply job ${jobId} confirms ${p.action === 'OPT_OUT' ? 'an opt-out' : 'an opt-in'} of ${p.list_type} that no longer holds (the identity's consent changed since): sending it now would mislead.`,
        );
      }
    }
    return this.dataSource.transaction(async (tx) => {
      const job = await this.replies.lockForRedelivery(tx, app, jobId);
      if (!job) throw ApiError.notFound(`No reply job ${jobId} in this app.`);
      if (job.status !== JobStatus.FAILED) throw notRedeliverable(jobId, job.status);
      if (job.redelivered !== null) {
        throw ApiError.failedPrecondition(
          `Reply job ${jobId} was already sent again as job ${job.redelivered}, which did not fail.`,
        );
      }
      const newId = await this.replies.enqueue(tx, {
        projectId: app.projectId,
        appId: app.appId,
        payload: { ...job.payload, redelivery_of: jobId },
      });
      this.logger.log(`reply redelivery queued app=${app.appId} job=${jobId} new_job=${newId}`);
      return { job_id: newId, redelivery_of: jobId };
    });
  }

  /** One page of an app's reply jobs, newest first (keyset on the job id). */
  async listReplyJobs(
    app: AppRef,
    q: { status?: JobStatus; pageSize: number; pageToken?: string },
  ): Promise<{ replyJobs: ReplyJobDto[]; nextPageToken: string }> {
    const beforeId = readPageToken(q.pageToken, true);
    // One extra row tells whether another page exists.
    const rows = await this.replies.list(app.projectId, app.appId, {
      status: q.status,
      beforeId,
      limit: q.pageSize + 1,
    });
    const page = rows.slice(0, q.pageSize);
    const next = rows.length > q.pageSize ? encodePageToken(page[page.length - 1]!.id) : '';
    return { replyJobs: page.map(toDto), nextPageToken: next };
  }
}

function toDto(r: ReplyJobRow): ReplyJobDto {
  return {
    id: r.id,
    status: r.status,
    attempts: r.attempts,
    action: r.action ?? '',
    language: r.language ?? '',
    channel: r.channel ?? '',
    identity: r.identity ?? '',
    inbound_message_id: r.inbound_message_id ?? '',
    last_error: r.last_error,
    created_at: r.created_at.toISOString(),
    next_attempt_at: r.status === JobStatus.PENDING ? r.next_attempt_at.toISOString() : null,
    finished_at: r.finished_at ? r.finished_at.toISOString() : null,
  };
}

/** Why a reply job in `status` is not sent again. */
export function notRedeliverable(jobId: string, status: JobStatus): ApiError {
  const why: Record<JobStatus, string> = {
    [JobStatus.PENDING]: 'is still being sent',
    [JobStatus.SENT]: 'was accepted by Sinch: sending it again would duplicate the confirmation',
    [JobStatus.IN_DOUBT]:
      'may have reached the recipient (its send was interrupted): an opt-out confirmation is sent at most once',
    [JobStatus.FAILED]: 'failed',
  };
  return ApiError.failedPrecondition(
    `Reply job ${jobId} ${why[status]}; only a FAILED reply is sent again.`,
  );
}
