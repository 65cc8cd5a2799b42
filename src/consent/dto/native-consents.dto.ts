import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsEnum,
  IsISO8601,
  IsInt,
  IsObject,
  IsOptional,
  IsRFC3339,
  IsString,
  isRFC3339,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import { ApiError } from '../../common/api-error.js';
import { plainBody } from '../../common/self-validating.js';
import { IdentityParams, IsListTypeParam } from './sinch-consents.dto.js';
import {
  AuditRecordKind,
  ContentType,
  Decision,
  ConsentMode,
  ListType,
  Operation,
  Origin,
  Outcome,
} from '../domain/consent-types.js';

export const MAX_CHECK_IDENTITIES = 10_000;

export class IdentityListParams extends IdentityParams {
  @IsListTypeParam()
  list_type: ListType;
}

export class ConsentChangeRequestDto {
  @ApiPropertyOptional({
    description: 'Why (free text, kept in the audit trail)',
    maxLength: 500,
    example: 'Asked by phone, ticket 4711',
  })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;

  @ApiPropertyOptional({
    description:
      'When the end user asked (ISO-8601 with zone). Default: its arrival. A change older than the last applied one for this identity and list is recorded as SUPERSEDED and not applied. At most 5 minutes in the future (else 400); a time after the arrival is stored as the arrival, the claim kept in the audit record (claimed_event_time).',
    format: 'date-time',
    example: '2026-11-22T10:00:00Z',
  })
  @IsOptional()
  @IsISO8601(
    { strict: true, strictSeparator: true },
    { message: 'event_time must be an ISO-8601 date-time' },
  )
  event_time?: string;

  @ApiPropertyOptional({
    description: 'Proof of the request, any JSON object up to 16 KiB (kept in the audit trail)',
    type: 'object',
    additionalProperties: true,
    example: { channel: 'web-preferences', ip_hash: '9f2c…' },
  })
  @IsOptional()
  @IsObject()
  evidence?: Record<string, unknown>;
}

export class ConsentStateDto {
  @ApiProperty({ enum: ListType, enumName: 'ConsentListType' })
  list_type: ListType;

  @ApiProperty({
    format: 'date-time',
    description: 'Event time at which the identity went on the list',
  })
  since: string;

  @ApiProperty({ enum: Origin, enumName: 'ConsentOrigin' })
  origin: Origin;
}

export class ListSizeDto {
  @ApiProperty({ enum: ListType, enumName: 'ConsentListType', example: ListType.OPT_OUT_MARKETING })
  list_type: ListType;

  @ApiProperty({ description: 'Identities on the list now', example: 1204 })
  size: number;
}

export class ListSizesResponseDto {
  @ApiProperty({
    type: [ListSizeDto],
    description: 'Every list, in the order OPT_OUT_ALL, OPT_OUT_MARKETING, OPT_OUT_NOTIFICATION',
  })
  lists: ListSizeDto[];
}

export class IdentityStateResponseDto {
  @ApiProperty({ description: 'Normalised identity', example: '46732001122' })
  identity: string;

  @ApiProperty({ description: 'True when the identity is on at least one list', example: true })
  opted_out: boolean;

  @ApiProperty({ type: [ConsentStateDto] })
  lists: ConsentStateDto[];
}

export class ConsentChangeResponseDto {
  @ApiProperty({ example: '46732001122' })
  identity: string;

  @ApiProperty({ enum: ListType, enumName: 'ConsentListType' })
  list_type: ListType;

  @ApiProperty({
    enum: Outcome,
    enumName: 'ConsentChangeOutcome',
    description: 'APPLIED, NO_CHANGE (already so), or SUPERSEDED (a newer change exists)',
  })
  outcome: Outcome;

  @ApiProperty({ enum: Operation, enumName: 'ConsentOperation' })
  operation: Operation;

  @ApiProperty({ description: 'Id of the audit record written for this request', example: '42' })
  audit_record_id: string;

  @ApiProperty({
    format: 'date-time',
    description: 'The event time stored: the one given, or the arrival when that was earlier',
  })
  event_time: string;

  @ApiProperty({
    description: 'Whether the identity is on the list after this request',
    example: true,
  })
  opted_out: boolean;
}

const CHECK_FIELDS = new Set(['identities', 'message_content_type', 'at']);
const AT_RULE = 'at must be an RFC 3339 date-time with a time zone (Z or ±hh:mm)';
const IDENTITIES_COUNT = `identities must contain 1 to ${MAX_CHECK_IDENTITIES} elements`;
const CONTENT_TYPE_RULE =
  'message_content_type must be one of CONTENT_UNKNOWN, CONTENT_MARKETING, CONTENT_NOTIFICATION';

/**
 * Self-validating (see SelfValidating): the send check is the hot path. The decorators are the
 * same rules for class-validator; check-request.dto.spec.ts feeds both one corpus of bodies.
 */
export class CheckRequestDto {
  @ApiProperty({
    type: [String],
    minItems: 1,
    maxItems: MAX_CHECK_IDENTITIES,
    description:
      'Identities to check (phone numbers are normalised); answers come in the same order',
    example: ['+46 73-200 11 22', '15551231212'],
  })
  @IsArray({ message: 'identities must be an array of strings' })
  @ArrayMinSize(1, { message: IDENTITIES_COUNT })
  @ArrayMaxSize(MAX_CHECK_IDENTITIES, { message: IDENTITIES_COUNT })
  @IsString({ each: true, message: 'each identity must be a string' })
  identities: string[];

  @ApiPropertyOptional({
    enum: ContentType,
    enumName: 'MessageContentType',
    default: ContentType.CONTENT_UNKNOWN,
    example: ContentType.CONTENT_MARKETING,
  })
  @IsOptional()
  @IsEnum(ContentType, { message: CONTENT_TYPE_RULE })
  message_content_type?: ContentType;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description:
      'Answer as consent stood at this instant, from the audit trail (RFC 3339 with a zone, Z or ±hh:mm; to the millisecond; from 2000-01-01 on, not later than the database clock, else 400): the lists as the changes recorded by then left them, the mode recorded by then (SETTINGS_CHANGE records; before any, the instance default), and per result `decided_by`. Without it: the current state (no `decided_by`).',
    example: '2026-11-22T10:00:00Z',
  })
  // Not @IsOptional: that would take `"at": null` for no `at` (an ordinary check).
  @ValidateIf((o: { at?: unknown }) => o.at !== undefined)
  @IsRFC3339({ message: AT_RULE })
  at?: string;

  static fromPlain(value: unknown): CheckRequestDto {
    const { body, violations } = plainBody(value, CHECK_FIELDS);
    const identities = body.identities;
    if (!Array.isArray(identities)) {
      violations.push({
        field: 'identities',
        description: 'identities must be an array of strings',
      });
    } else if (identities.length < 1 || identities.length > MAX_CHECK_IDENTITIES) {
      violations.push({ field: 'identities', description: IDENTITIES_COUNT });
    } else {
      for (let i = 0; i < identities.length && violations.length < 100; i++) {
        if (typeof identities[i] !== 'string')
          violations.push({
            field: `identities[${i}]`,
            description: 'each identity must be a string',
          });
      }
    }
    const contentType = body.message_content_type;
    if (contentType !== undefined && !CONTENT_TYPES.has(contentType as string)) {
      violations.push({ field: 'message_content_type', description: CONTENT_TYPE_RULE });
    }
    const at = body.at;
    if (at !== undefined && !isRFC3339(at)) violations.push({ field: 'at', description: AT_RULE });
    if (violations.length > 0) throw ApiError.invalidRequest(violations);
    const dto = new CheckRequestDto();
    dto.identities = identities as string[];
    if (contentType !== undefined) dto.message_content_type = contentType as ContentType;
    if (at !== undefined) dto.at = at as string;
    return dto;
  }
}

const CONTENT_TYPES = new Set<string>(Object.values(ContentType));

export class CheckResultDto {
  @ApiProperty({ description: 'Normalised identity', example: '46732001122' })
  identity: string;

  @ApiProperty({ enum: Decision, enumName: 'SendDecision', example: Decision.BLOCK })
  decision: Decision;

  @ApiProperty({
    description: 'True when a list that applies to this content type holds the identity',
    example: true,
  })
  opted_out: boolean;

  @ApiProperty({
    enum: ListType,
    enumName: 'ConsentListType',
    isArray: true,
    description: 'The lists that apply to this content type and hold the identity',
    example: [ListType.OPT_OUT_MARKETING],
  })
  lists: ListType[];

  @ApiProperty({ example: 'identity is on OPT_OUT_MARKETING, which blocks CONTENT_MARKETING' })
  reason: string;

  @ApiPropertyOptional({
    type: [String],
    description:
      'Only with `at`: the ids of the audit records that put the identity on `lists`, in the same order (the latest applied change of each list recorded by then; see GET .../identities/{identity}/audit-records); empty when allowed by no list',
    example: ['4711'],
  })
  decided_by?: string[];
}

export class CheckResponseDto {
  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'Only with `at`: the instant answered for (UTC, to the millisecond)',
    example: '2026-11-22T10:00:00.000Z',
  })
  at?: string;

  @ApiProperty({
    enum: ConsentMode,
    enumName: 'ConsentMode',
    example: ConsentMode.PRIMARY,
    description: "The app's mode used: now, or with `at` the one recorded by then",
  })
  mode: ConsentMode;

  @ApiProperty({ enum: ContentType, enumName: 'MessageContentType' })
  message_content_type: ContentType;

  @ApiProperty({ type: [CheckResultDto] })
  results: CheckResultDto[];
}

export class AuditQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'page_size must be an integer' })
  @Min(1)
  @Max(500)
  page_size?: number;

  @ApiPropertyOptional({ description: 'next_page_token of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  page_token?: string;
}

export class AuditRecordDto {
  @ApiProperty({ example: '42' })
  id: string;

  @ApiProperty({
    enum: AuditRecordKind,
    enumName: 'AuditRecordKind',
    description:
      "CONSENT_CHANGE: a requested change of a list (whatever its outcome). DELIVERY_REFUSED: a FAILED Sinch delivery report whose reason says the recipient refused (RECIPIENT_NOT_OPTED_IN, DELIVERY_REJECTED_DUE_TO_POLICY, CHANNEL_REJECT); consent is not changed. REPLY_SENT / REPLY_FAILED / REPLY_IN_DOUBT: the final outcome of a confirmation reply (one record per reply; retries are not recorded); REPLY_IN_DOUBT is an opt-out confirmation whose send was interrupted by a crash, not sent again. EVENT_TIME_REPAIRED: a stored event time in the future set back to when its change was recorded (claimed_event_time: the old one). SETTINGS_CHANGE: a change of the app's consent settings (identity and list_type null; evidence: the settings after it, never a secret); never in an identity's listing. Only CONSENT_CHANGE records appear in the Sinch-compatible endpoint.",
    example: AuditRecordKind.CONSENT_CHANGE,
  })
  kind: AuditRecordKind;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Null only for SETTINGS_CHANGE (a record about the app)',
    example: '46732001122',
  })
  identity: string | null;

  @ApiProperty({
    enum: ListType,
    enumName: 'ConsentListType',
    nullable: true,
    description:
      "Always set for CONSENT_CHANGE; for a reply, its keyword's list (null for HELP); null for DELIVERY_REFUSED",
  })
  list_type: ListType | null;

  @ApiProperty({
    enum: Origin,
    enumName: 'ConsentOrigin',
    nullable: true,
    description: 'Set for CONSENT_CHANGE and DELIVERY_REFUSED (ORIGIN_MO); null for replies',
  })
  origin: Origin | null;

  @ApiProperty({
    enum: Operation,
    enumName: 'ConsentOperation',
    nullable: true,
    description: 'CONSENT_CHANGE only; null for the other kinds',
  })
  operation: Operation | null;

  @ApiProperty({
    enum: Outcome,
    enumName: 'ConsentChangeOutcome',
    nullable: true,
    description: 'CONSENT_CHANGE only; null for the other kinds',
  })
  outcome: Outcome | null;

  @ApiProperty({
    description:
      'API key id that asked, "admin", the channel of an MO change or refused delivery ("sinch:SMS"), or "consent-gate" for the service\'s own replies',
    example: '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A',
  })
  actor: string;

  @ApiProperty({ type: String, nullable: true })
  reason: string | null;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    description:
      'CONSENT_CHANGE: the proof given with the request. DELIVERY_REFUSED: message_id, status, reason_code, channel. REPLY_*: reply_job_id, inbound_message_id, action, language, channel, attempts, and sinch_message_id (sent) or last_error (failed). SETTINGS_CHANGE: mode, matching_profile, auto_reply, reply_languages, webhook_secrets_count, previous_mode, changed (the settings set to a new value). Never a message text or a secret.',
  })
  evidence: unknown;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Set for records written by POST /v1/projects/{project_id}/consents',
  })
  batch_id: string | null;

  @ApiProperty({
    format: 'date-time',
    description:
      "When it happened: the change's event_time (never later than its arrival), the delivery report's event time, when the reply's outcome was recorded, or the repaired event time",
  })
  event_time: string;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'The event time claimed when it was later than the arrival (event_time is then the arrival); for EVENT_TIME_REPAIRED, the future event time repaired; else null',
  })
  claimed_event_time: string | null;

  @ApiProperty({ format: 'date-time', description: 'When the service wrote the record' })
  recorded_at: string;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The import that made this change (POST .../imports), else null',
  })
  import_id: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'The import row\'s source (where the change came from before, e.g. "twilio"), else null',
  })
  source: string | null;

  @ApiProperty({
    description:
      "SHA-256 (hex) over the record's canonical encoding and prev_hash: the record's link in the app's hash chain (see GET .../audit:verify and the README's Proof section)",
    example: '9f2c6a1d0b7e4f3a8c5d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b',
  })
  hash: string;

  @ApiProperty({
    description:
      "The hash of the record before it in the app's chain (hex; 64 zeros for the app's first record)",
    example: '1b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a',
  })
  prev_hash: string;
}

export class AuditRecordPageResponseDto {
  @ApiProperty({ type: [AuditRecordDto] })
  audit_records: AuditRecordDto[];

  @ApiProperty({ description: 'Empty on the last page', example: '' })
  next_page_token: string;
}
