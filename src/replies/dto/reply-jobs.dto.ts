import { PageQueryDto } from '../../common/page-query.dto.js';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsEnum, IsOptional, Matches } from 'class-validator';
import { AppParams } from '../../common/params.dto.js';
import { JobStatus } from '../../jobs/job.entity.js';

export const REPLY_ACTIONS = ['OPT_OUT', 'OPT_IN', 'HELP'] as const;

export class ReplyJobsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({
    enum: JobStatus,
    enumName: 'ReplyJobStatus',
    description: 'Only jobs in this status',
    example: JobStatus.FAILED,
  })
  @IsOptional()
  @IsEnum(JobStatus, { message: 'status must be one of PENDING, SENT, FAILED, IN_DOUBT' })
  status?: JobStatus;
}

/** A queued confirmation reply, without its text. */
export class ReplyJobDto {
  @ApiProperty({ description: 'Job id; also the correlation_id of the Sinch send', example: '42' })
  id: string;

  @ApiProperty({
    enum: JobStatus,
    enumName: 'ReplyJobStatus',
    description:
      'PENDING (waiting for its first or next attempt), SENT (accepted by Sinch), FAILED (not retryable, or given up after REPLY_GIVE_UP_AFTER_S) or IN_DOUBT (an opt-out confirmation whose send was interrupted by a crash: it may or may not have reached the recipient, and is not sent again)',
    example: JobStatus.SENT,
  })
  status: JobStatus;

  @ApiProperty({ description: 'Send attempts so far (including one in progress)', example: 1 })
  attempts: number;

  @ApiProperty({
    enum: REPLY_ACTIONS,
    enumName: 'ReplyJobAction',
    description: 'The keyword action the reply confirms',
    example: 'OPT_OUT',
  })
  action: string;

  @ApiProperty({ description: 'Language of the reply text', example: 'en' })
  language: string;

  @ApiProperty({ description: 'Conversation API channel', example: 'SMS' })
  channel: string;

  @ApiProperty({ description: 'Recipient channel identity', example: '46732001122' })
  identity: string;

  @ApiProperty({
    description: 'Sinch id of the inbound message answered',
    example: '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A',
  })
  inbound_message_id: string;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Why the last attempt failed (never contains the text or the identity)',
    example: 'messages:send: HTTP 503 UNAVAILABLE: Service unavailable',
  })
  last_error: string | null;

  @ApiProperty({ format: 'date-time' })
  created_at: string;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'When the next attempt is due (or the current attempt expires); null once finished',
  })
  next_attempt_at: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  finished_at: string | null;
}

export class ReplyJobPageResponseDto {
  @ApiProperty({ type: [ReplyJobDto] })
  reply_jobs: ReplyJobDto[];

  @ApiProperty({ description: 'Empty on the last page', example: '' })
  next_page_token: string;
}

export class ReplyJobParams extends AppParams {
  @ApiProperty({ description: 'Reply job id', example: '42' })
  @Matches(/^[1-9][0-9]{0,18}$/, { message: 'job_id must be a job id (a positive integer)' })
  job_id: string;
}

export class ReplyRedeliveryDto {
  @ApiProperty({ description: 'The new job that sends the reply again', example: '57' })
  job_id: string;

  @ApiProperty({ description: 'The FAILED job it sends again', example: '42' })
  redelivery_of: string;
}
