import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Scope } from '../auth/api-key.entity.js';
import { RequireScope } from '../auth/auth.decorators.js';
import { AppParams } from '../common/params.dto.js';
import { ApiErrorResponse } from '../common/api-error-response.js';
import { ReplyJobPageResponseDto, ReplyJobsQueryDto } from './dto/reply-jobs.dto.js';
import { ReplyJobsService } from './reply-jobs.service.js';

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
}
