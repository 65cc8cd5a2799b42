import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length, Matches } from 'class-validator';
import { ApiError } from '../../common/api-error.js';
import { plainBody } from '../../common/self-validating.js';
import { AppParams } from '../../common/params.dto.js';
import { ListType } from '../../consent/domain/consent-types.js';
import {
  buildRuleSet,
  MAX_PHRASE_LENGTH,
  validateCustomKeyword,
} from '../domain/custom-keywords.js';
import { KeywordAction, MatchingProfile } from '../domain/keyword-types.js';
import { keywordViolations } from '../keyword-violations.js';

export type KeywordSource = 'DEFAULT' | 'CUSTOM';
export const KEYWORD_SOURCES: readonly KeywordSource[] = ['DEFAULT', 'CUSTOM'];

/** Most custom keywords one app may have. */
export const MAX_CUSTOM_KEYWORDS = 500;
/** Longest text a dry run accepts. */
export const MAX_DRY_RUN_TEXT = 2000;

/** A custom keyword id: a ULID (Crockford base32, upper case). */
export const KEYWORD_ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

const DEFAULTS = buildRuleSet([]);
const CREATE_FIELDS = new Set(['phrase', 'action', 'list_type', 'language']);

export class KeywordIdParams extends AppParams {
  @ApiProperty({
    description: 'Id of a custom keyword (a ULID)',
    example: '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A',
  })
  @Matches(KEYWORD_ID_PATTERN, { message: 'keyword_id must be a 26-character keyword id' })
  keyword_id: string;
}

export class ListKeywordsQueryDto {
  @ApiPropertyOptional({
    enum: KEYWORD_SOURCES,
    enumName: 'KeywordSource',
    description: 'Only the default keywords, or only the app’s own. Default: both.',
    example: 'CUSTOM',
  })
  @IsOptional()
  @IsIn(KEYWORD_SOURCES, { message: 'source must be DEFAULT or CUSTOM' })
  source?: KeywordSource;
}

export class KeywordDto {
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Id of a custom keyword; null for a default keyword (defaults cannot be deleted)',
    example: '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A',
  })
  id: string | null;

  @ApiProperty({
    description: 'The phrase as configured; matching ignores case (and more under US_FCC)',
    example: 'BASTA',
  })
  phrase: string;

  @ApiProperty({ enum: KeywordAction, enumName: 'KeywordAction', example: KeywordAction.OPT_OUT })
  action: KeywordAction;

  @ApiProperty({
    enum: ListType,
    enumName: 'ConsentListType',
    nullable: true,
    description: 'The list an OPT_OUT or OPT_IN acts on; null for HELP',
    example: ListType.OPT_OUT_MARKETING,
  })
  list_type: ListType | null;

  @ApiProperty({
    description: 'Language (ISO 639-1, upper case); chooses the reply text',
    example: 'IT',
  })
  language: string;

  @ApiProperty({
    enum: KEYWORD_SOURCES,
    enumName: 'KeywordSource',
    description: 'DEFAULT: built in (Sinch’s list plus HELP words); CUSTOM: the app’s own',
    example: 'CUSTOM',
  })
  source: KeywordSource;
}

export class KeywordListResponseDto {
  @ApiProperty({
    type: [KeywordDto],
    description: 'The defaults first (they win a tie), then the custom keywords, oldest first',
  })
  keywords: KeywordDto[];
}

/**
 * Self-validating (see SelfValidating): checked by the keyword engine's own rules
 * (validateCustomKeyword) against the defaults, so that its messages reach the caller unchanged.
 * The service checks again against the app's custom keywords, under a per-app lock.
 */
export class CreateKeywordRequestDto {
  @ApiProperty({
    description: `The whole message that triggers the keyword: 1 to ${MAX_PHRASE_LENGTH} characters after trimming, at least one letter or digit, no control characters. It must not mean something else than a keyword already in force (compared ignoring case, accents, punctuation and spacing), nor duplicate one.`,
    minLength: 1,
    maxLength: MAX_PHRASE_LENGTH,
    example: 'BASTA',
  })
  phrase: string;

  @ApiProperty({ enum: KeywordAction, enumName: 'KeywordAction', example: KeywordAction.OPT_OUT })
  action: KeywordAction;

  @ApiPropertyOptional({
    enum: ListType,
    enumName: 'ConsentListType',
    nullable: true,
    description: 'Required for OPT_OUT and OPT_IN; absent or null for HELP',
    example: ListType.OPT_OUT_MARKETING,
  })
  list_type?: ListType | null;

  @ApiProperty({
    description: 'Language (ISO 639-1, two upper-case letters); chooses the reply text',
    pattern: '^[A-Z]{2}$',
    example: 'IT',
  })
  language: string;

  static fromPlain(value: unknown): CreateKeywordRequestDto {
    const { body, violations } = plainBody(value, CREATE_FIELDS);
    const input = {
      phrase: body.phrase,
      action: body.action,
      list_type: body.list_type,
      language: body.language,
    };
    violations.push(...keywordViolations(validateCustomKeyword(input, DEFAULTS)));
    if (violations.length > 0) throw ApiError.invalidRequest(violations);
    return Object.assign(new CreateKeywordRequestDto(), {
      phrase: (input.phrase as string).trim(),
      action: input.action as KeywordAction,
      list_type: (input.list_type ?? null) as ListType | null,
      language: input.language as string,
    });
  }
}

export class DryRunRequestDto {
  @ApiProperty({
    description: 'An inbound message text, as an end user would send it',
    minLength: 1,
    maxLength: MAX_DRY_RUN_TEXT,
    example: 'Stop.',
  })
  @IsString({ message: 'text must be a string' })
  @Length(1, MAX_DRY_RUN_TEXT, { message: `text must be 1 to ${MAX_DRY_RUN_TEXT} characters` })
  text: string;
}

export class DryRunKeywordDto {
  @ApiProperty({
    description: 'The matched phrase as configured (for an FCC revocation: the FCC word)',
    example: 'STOP',
  })
  phrase: string;

  @ApiProperty({ enum: KeywordAction, enumName: 'KeywordAction', example: KeywordAction.OPT_OUT })
  action: KeywordAction;

  @ApiProperty({
    enum: ListType,
    enumName: 'ConsentListType',
    nullable: true,
    example: ListType.OPT_OUT_ALL,
  })
  list_type: ListType | null;

  @ApiProperty({ example: 'EN' })
  language: string;

  @ApiProperty({ enum: KEYWORD_SOURCES, enumName: 'KeywordSource', example: 'DEFAULT' })
  source: KeywordSource;
}

export class DryRunResponseDto {
  @ApiProperty({ description: 'Whether the text is a keyword for this app', example: true })
  matched: boolean;

  @ApiProperty({
    enum: MatchingProfile,
    enumName: 'MatchingProfile',
    description: 'The app’s matching profile, under which the text was matched',
    example: MatchingProfile.SINCH_EXACT,
  })
  profile: MatchingProfile;

  @ApiProperty({
    type: DryRunKeywordDto,
    nullable: true,
    description: 'The keyword that matched; null when none did',
  })
  keyword: DryRunKeywordDto | null;

  @ApiProperty({
    enum: KeywordAction,
    enumName: 'KeywordAction',
    nullable: true,
    description: 'What an inbound message with this text would do; null when nothing matched',
    example: KeywordAction.OPT_OUT,
  })
  action: KeywordAction | null;

  @ApiProperty({
    enum: ListType,
    enumName: 'ConsentListType',
    nullable: true,
    description: 'The list it would act on; null for HELP or no match',
    example: ListType.OPT_OUT_ALL,
  })
  list_type: ListType | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Language of the matched keyword; null when nothing matched',
    example: 'EN',
  })
  language: string | null;

  @ApiProperty({
    description:
      'True when only the US_FCC per-se revocation rule matched (QUIT, END, REVOKE, OPT OUT, ...), not a listed keyword',
    example: false,
  })
  fcc_revocation: boolean;

  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'The confirmation reply for the match (the app’s override, else the default text); sent only when auto_reply is true. Null when nothing matched.',
    example: 'Your request to leave has been accomplished.',
  })
  reply: string | null;

  @ApiProperty({
    description: 'Whether the app sends confirmation replies (consent-settings auto_reply)',
    example: true,
  })
  auto_reply: boolean;
}
