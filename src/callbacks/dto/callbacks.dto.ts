import { PageQueryDto } from '../../common/page-query.dto.js';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  ArrayUnique,
  IsArray,
  IsEnum,
  IsIn,
  IsOptional,
  IsString,
  Length,
  Matches,
  ValidateBy,
  ValidationOptions,
} from 'class-validator';
import { AppParams } from '../../common/params.dto.js';
import { MAX_TARGET_URL_LENGTH, targetUrlProblem } from '../callback-payload.js';
import { CallbackTrigger } from '../callback-events.js';

/** A callback subscription id, and an event id: ULIDs (Crockford base32, upper case). */
export const ULID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

const TRIGGERS_MESSAGE =
  'each trigger must be one of OPT_IN, OPT_OUT, SEND_BLOCKED, SENT_TO_OPTED_OUT';
const TRIGGERS_DESCRIPTION =
  'Events to receive, a non-empty set: OPT_IN (an identity was taken off a list), OPT_OUT (put on a list), SEND_BLOCKED (the send gate blocked a send, PRIMARY mode), SENT_TO_OPTED_OUT (a send to an opted-out identity was forwarded, SECONDARY mode).';
const URL_DESCRIPTION = `Where callbacks are POSTed: an absolute http or https URL of at most ${MAX_TARGET_URL_LENGTH} characters, without user:password@ (put a token in the path or query instead). Redirects are not followed.`;
const SECRET_DESCRIPTION =
  'Signing secret (8 to 256 characters, no control characters): each callback carries x-sinch-webhook-signature = base64(HMAC-SHA256(secret, body + "." + nonce + "." + timestamp)), as Sinch signs its own callbacks. Write-only: never returned.';

const URL_EXAMPLE = 'https://crm.example.com/hooks/consent';
const TRIGGERS_EXAMPLE = [CallbackTrigger.OPT_OUT, CallbackTrigger.OPT_IN];

/** target_url: parses, http(s), a host, no credentials, at most 2048 characters. */
function IsCallbackUrl(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isCallbackUrl',
      validator: {
        validate: (value: unknown) => targetUrlProblem(value) === null,
        defaultMessage: (args) => `target_url ${targetUrlProblem(args?.value) ?? 'is invalid'}`,
      },
    },
    options,
  );
}

export class CallbackIdParams extends AppParams {
  @ApiProperty({
    description: 'Id of a callback subscription (a ULID)',
    example: '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A',
  })
  @Matches(ULID_PATTERN, { message: 'callback_id must be a 26-character callback id' })
  callback_id: string;
}

export class CallbackEventParams extends CallbackIdParams {
  @ApiProperty({
    description: 'Id of an event (a ULID): request_id / event_id in the callback body',
    example: '01JDQ10ZB6T8D2V3SA4Q0C7M5N',
  })
  @Matches(ULID_PATTERN, { message: 'event_id must be a 26-character event id' })
  event_id: string;
}

export class CreateCallbackRequestDto {
  @ApiProperty({
    description: URL_DESCRIPTION,
    maxLength: MAX_TARGET_URL_LENGTH,
    example: URL_EXAMPLE,
  })
  @IsCallbackUrl()
  target_url: string;

  @ApiProperty({
    description: SECRET_DESCRIPTION,
    minLength: 8,
    maxLength: 256,
    writeOnly: true,
    example: 'a-long-random-signing-secret',
  })
  @IsString({ message: 'secret must be a string' })
  @Length(8, 256, { message: 'secret must be 8 to 256 characters' })
  // eslint-disable-next-line no-control-regex
  @Matches(/^[^\u0000-\u001f\u007f]+$/, { message: 'secret must not contain control characters' })
  secret: string;

  @ApiProperty({
    enum: CallbackTrigger,
    enumName: 'CallbackTrigger',
    isArray: true,
    minItems: 1,
    maxItems: 4,
    uniqueItems: true,
    description: TRIGGERS_DESCRIPTION,
    example: TRIGGERS_EXAMPLE,
  })
  @IsArray({ message: 'triggers must be an array' })
  @ArrayNotEmpty({ message: 'triggers must name at least one trigger' })
  @ArrayMaxSize(4, { message: 'triggers holds at most the 4 triggers' })
  @ArrayUnique({ message: 'triggers must not repeat a trigger' })
  @IsEnum(CallbackTrigger, { each: true, message: TRIGGERS_MESSAGE })
  triggers: CallbackTrigger[];
}

/** Fields left out keep their value; at least one is required. */
export class UpdateCallbackRequestDto {
  @ApiPropertyOptional({
    description: URL_DESCRIPTION,
    maxLength: MAX_TARGET_URL_LENGTH,
    example: URL_EXAMPLE,
  })
  @IsOptional()
  @IsCallbackUrl()
  target_url?: string;

  @ApiPropertyOptional({
    description: `${SECRET_DESCRIPTION} Queued callbacks are signed with the secret in force when they are sent.`,
    minLength: 8,
    maxLength: 256,
    writeOnly: true,
    example: 'the-next-signing-secret',
  })
  @IsOptional()
  @IsString({ message: 'secret must be a string' })
  @Length(8, 256, { message: 'secret must be 8 to 256 characters' })
  // eslint-disable-next-line no-control-regex
  @Matches(/^[^\u0000-\u001f\u007f]+$/, { message: 'secret must not contain control characters' })
  secret?: string;

  @ApiPropertyOptional({
    enum: CallbackTrigger,
    enumName: 'CallbackTrigger',
    isArray: true,
    minItems: 1,
    maxItems: 4,
    uniqueItems: true,
    description: TRIGGERS_DESCRIPTION,
    example: TRIGGERS_EXAMPLE,
  })
  @IsOptional()
  @IsArray({ message: 'triggers must be an array' })
  @ArrayNotEmpty({ message: 'triggers must name at least one trigger' })
  @ArrayMaxSize(4, { message: 'triggers holds at most the 4 triggers' })
  @ArrayUnique({ message: 'triggers must not repeat a trigger' })
  @IsEnum(CallbackTrigger, { each: true, message: TRIGGERS_MESSAGE })
  triggers?: CallbackTrigger[];
}

/** A callback subscription, without its secret. */
export class CallbackDto {
  @ApiProperty({ description: 'Subscription id (a ULID)', example: '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A' })
  id: string;

  @ApiProperty({ example: URL_EXAMPLE })
  target_url: string;

  @ApiProperty({
    enum: CallbackTrigger,
    enumName: 'CallbackTrigger',
    isArray: true,
    example: TRIGGERS_EXAMPLE,
  })
  triggers: CallbackTrigger[];

  @ApiProperty({ format: 'date-time', example: '2026-11-22T10:00:00.000Z' })
  created_at: string;

  @ApiProperty({ format: 'date-time', example: '2026-11-22T10:00:00.000Z' })
  updated_at: string;
}

export class CallbackListResponseDto {
  @ApiProperty({ type: [CallbackDto], description: 'Oldest first' })
  callbacks: CallbackDto[];
}

export const DELIVERY_OUTCOMES = ['SUCCEEDED', 'RETRYING', 'GAVE_UP'] as const;

export class DeliveriesQueryDto extends PageQueryDto {
  @ApiPropertyOptional({
    enum: DELIVERY_OUTCOMES,
    enumName: 'CallbackDeliveryOutcome',
    description: 'Only attempts with this outcome (GAVE_UP: the failed deliveries, to redeliver)',
    example: 'GAVE_UP',
  })
  @IsOptional()
  @IsIn(DELIVERY_OUTCOMES, { message: 'outcome must be one of SUCCEEDED, RETRYING, GAVE_UP' })
  outcome?: (typeof DELIVERY_OUTCOMES)[number];
}

/** One delivery attempt of a callback. */
export class CallbackDeliveryDto {
  @ApiProperty({ description: 'Id of this attempt record', example: '731' })
  id: string;

  @ApiProperty({
    description: 'The event (request_id / event_id in the body); redeliver it with :redeliver',
    example: '01JDQ10ZB6T8D2V3SA4Q0C7M5N',
  })
  event_id: string;

  @ApiProperty({ description: 'The outbox job that made the attempt', example: '42' })
  job_id: string;

  @ApiProperty({
    enum: CallbackTrigger,
    enumName: 'CallbackTrigger',
    example: CallbackTrigger.OPT_OUT,
  })
  trigger: string;

  @ApiProperty({ description: 'Attempt number within the job, from 1', example: 1 })
  attempt: number;

  @ApiProperty({
    enum: DELIVERY_OUTCOMES,
    enumName: 'CallbackDeliveryOutcome',
    description:
      'SUCCEEDED (2xx), RETRYING (network error, timeout, 429 or 5xx; tried again later) or GAVE_UP (another status, or not delivered within CALLBACK_GIVE_UP_AFTER_S)',
    example: 'SUCCEEDED',
  })
  outcome: string;

  @ApiProperty({
    type: Number,
    nullable: true,
    description: "The target's HTTP status; null when no answer came (network error, timeout)",
    example: 200,
  })
  http_status: number | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Why the attempt failed (never the URL, the secret or the body)',
    example: 'HTTP 503 (retryable)',
  })
  error: string | null;

  @ApiProperty({ description: 'Time until the answer (or the failure), in ms', example: 87 })
  duration_ms: number;

  @ApiProperty({ format: 'date-time', example: '2026-11-22T10:00:01.000Z' })
  attempted_at: string;
}

export class CallbackDeliveryPageResponseDto {
  @ApiProperty({ type: [CallbackDeliveryDto], description: 'Newest first' })
  deliveries: CallbackDeliveryDto[];

  @ApiProperty({ description: 'Empty on the last page', example: '' })
  next_page_token: string;
}

export class RedeliverResponseDto {
  @ApiProperty({ example: '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A' })
  callback_id: string;

  @ApiProperty({ example: '01JDQ10ZB6T8D2V3SA4Q0C7M5N' })
  event_id: string;

  @ApiProperty({
    description:
      'The new outbox job that sends the same body again (its attempts appear in the delivery log)',
    example: '57',
  })
  job_id: string;
}
