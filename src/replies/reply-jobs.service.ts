import { Injectable } from '@nestjs/common';
import { encodePageToken, readPageToken } from '../kernel/page-token.js';
import type { AppRef } from '../kernel/app-ref.js';
import { JobStatus } from '../jobs/job.entity.js';
import { ReplyJobRow, ReplyQueue } from './reply-queue.js';
import type { ReplyJobDto } from './dto/reply-jobs.dto.js';

/** Read side of the reply jobs, for operators. */
@Injectable()
export class ReplyJobsService {
  constructor(private readonly replies: ReplyQueue) {}

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
