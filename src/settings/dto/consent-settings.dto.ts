import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsEnum,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Matches,
} from 'class-validator';
import { ConsentMode } from '../../consent/domain/consent-types.js';
import { MatchingProfile } from '../../keywords/domain/keyword-types.js';
import type { ReplyOverrides } from '../app-settings.entity.js';

const REPLIES_EXAMPLE = {
  EN: { OPT_OUT: 'You will get no more messages from ACME. Reply START to undo.' },
};

/** Fields left out keep their stored value (or the default for a new app). */
export class PutConsentSettingsRequestDto {
  @ApiPropertyOptional({
    enum: ConsentMode,
    enumName: 'ConsentMode',
    description:
      'PRIMARY blocks sends to opted-out identities; SECONDARY never blocks and only reports.',
    example: ConsentMode.PRIMARY,
  })
  @IsOptional()
  @IsEnum(ConsentMode, { message: 'mode must be PRIMARY or SECONDARY' })
  mode?: ConsentMode;

  @ApiPropertyOptional({
    type: [String],
    maxItems: 2,
    writeOnly: true,
    description:
      'Secrets of the Sinch webhook(s) that call POST /webhooks/sinch for this app: one, or two while rotating. Write-only: never returned. [] removes them (webhooks are then accepted unsigned).',
    example: ['my-sinch-webhook-secret'],
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(2, { message: 'webhook_secrets holds at most 2 secrets (current and next)' })
  @IsString({ each: true })
  @Length(8, 256, { each: true, message: 'each webhook secret must be 8 to 256 characters' })
  // eslint-disable-next-line no-control-regex
  @Matches(/^[^\u0000-\u001f\u007f]+$/, {
    each: true,
    message: 'webhook secrets must not contain control characters',
  })
  webhook_secrets?: string[];

  @ApiPropertyOptional({
    enum: MatchingProfile,
    enumName: 'MatchingProfile',
    description:
      'SINCH_EXACT: the whole message, trimmed, case-insensitive. US_FCC: also ignores punctuation, emoji, accents and extra spaces, and treats the FCC revocation words as OPT_OUT_ALL.',
    example: MatchingProfile.SINCH_EXACT,
  })
  @IsOptional()
  @IsEnum(MatchingProfile, { message: 'matching_profile must be SINCH_EXACT or US_FCC' })
  matching_profile?: MatchingProfile;

  @ApiPropertyOptional({
    description:
      'Send confirmation replies for keyword opt-outs, opt-ins and HELP (turn off when Sinch consent management already replies)',
    example: true,
  })
  @IsOptional()
  @IsBoolean()
  auto_reply?: boolean;

  @ApiPropertyOptional({
    description:
      'Reply texts per language replacing the defaults: {"EN":{"OPT_OUT","OPT_IN","HELP"}}',
    type: 'object',
    additionalProperties: true,
    example: REPLIES_EXAMPLE,
  })
  @IsOptional()
  @IsObject()
  replies?: ReplyOverrides;
}

export class ConsentSettingsResponseDto {
  @ApiProperty({ example: 'c36f3d3d-1523-4edd-ae42-11995557ff61' })
  project_id: string;

  @ApiProperty({ example: '01EB37HMH1M6SV18ABNS3G135H' })
  app_id: string;

  @ApiProperty({ enum: ConsentMode, enumName: 'ConsentMode', example: ConsentMode.PRIMARY })
  mode: ConsentMode;

  @ApiProperty({
    enum: MatchingProfile,
    enumName: 'MatchingProfile',
    example: MatchingProfile.SINCH_EXACT,
  })
  matching_profile: MatchingProfile;

  @ApiProperty({ example: true })
  auto_reply: boolean;

  @ApiProperty({ type: 'object', additionalProperties: true, example: REPLIES_EXAMPLE })
  replies: ReplyOverrides;

  @ApiProperty({
    description: 'How many webhook secrets are set (the secrets are never returned)',
    example: 1,
  })
  webhook_secrets_count: number;

  @ApiProperty({
    description: 'false when the app has no stored settings and the documented defaults apply',
    example: true,
  })
  configured: boolean;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    example: '2026-11-22T10:00:00.000Z',
  })
  updated_at: string | null;
}
