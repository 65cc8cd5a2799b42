import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Scope } from '../auth/api-key.entity.js';
import { RequireScope } from '../auth/auth.decorators.js';
import { AppParams } from '../common/params.dto.js';
import { ApiErrorResponse } from '../common/api-error-response.js';
import { ApiError } from '../common/api-error.js';
import { JobStatus } from '../jobs/job.entity.js';
import {
  ReplyJobPageResponseDto,
  ReplyJobParams,
  ReplyJobsQueryDto,
  ReplyRedeliveryDto,
} from './dto/reply-jobs.dto.js';
import { notRedeliverable, ReplyJobsService } from './reply-jobs.service.js';

/** Operators' view of the confirmation replies queued for sending through Sinch. */
@ApiTags('Reply jobs')
@Controller('v1/projects/:project_id/apps/:app_id/reply-jobs')
export class ReplyJobsController {
  constructor(private readonly replyJobs: ReplyJobsService) {}

  @Get()
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary: "An app's confirmation replies and their delivery state, newest first, paged",
    description:
      "Each keyword that changes consent (or asks for HELP) queues one reply, sent by the reply worker with retries until REPLY_GIVE_UP_AFTER_S (honouring Sinch's Retry-After on a 429 or 503). An opt-out confirmation whose send was interrupted by a crash is not sent again: it ends IN_DOUBT. One recipient's replies (app, channel, identity) are sent one at a time in the order they were queued: a reply waits while an earlier one to the same recipient is PENDING. The reply text is not returned.",
  })
  @ApiOkResponse({ type: ReplyJobPageResponseDto, description: 'A page of reply jobs' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  async listReplyJobs(
    @Param() p: AppParams,
    @Query() q: ReplyJobsQueryDto,
  ): Promise<ReplyJobPageResponseDto> {
    const page = await this.replyJobs.listReplyJobs(
      { projectId: p.project_id, appId: p.app_id },
      { status: q.status, pageSize: q.page_size ?? 50, pageToken: q.page_token },
    );
    return { reply_jobs: page.replyJobs, next_page_token: page.nextPageToken };
  }

  @Post(':job_id(^[0-9]+)::redeliver')
  @HttpCode(202)
  @RequireScope(Scope.ADMIN)
  @ApiOperation({
    summary: 'Send a FAILED confirmation reply again',
    description:
      "Queues the same reply (text, recipient, channel) as a new job with its own retries, at the end of the recipient's queue; its outcome is audited like any reply (REPLY_SENT / REPLY_FAILED), its payload names the job it repeats (redelivery_of). Only a FAILED job (Sinch never accepted it) is sent again: a SENT one would be a duplicate, an IN_DOUBT one may have reached the recipient (an opt-out confirmation is sent at most once), a PENDING one is still being sent; a job already sent again by a job that did not fail, or an opt-out / opt-in confirmation that no longer holds (the identity's consent changed since), is not sent either: 409, nothing queued.",
  })
  @ApiAcceptedResponse({ type: ReplyRedeliveryDto, description: 'The redelivery queued' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  @ApiErrorResponse(
    404,
    'No such reply job in the app',
    ApiError.notFound('No reply job 42 in this app.'),
  )
  @ApiErrorResponse(
    409,
    'The job is not FAILED, was already sent again, or no longer holds',
    notRedeliverable('42', JobStatus.SENT),
  )
  redeliverReplyJob(@Param() p: ReplyJobParams): Promise<ReplyRedeliveryDto> {
    return this.replyJobs.redeliver({ projectId: p.project_id, appId: p.app_id }, p.job_id);
  }
}
