import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Scope } from '../auth/api-key.entity.js';
import { RequireScope } from '../auth/auth.decorators.js';
import { ApiError } from '../common/api-error.js';
import { ApiErrorResponse } from '../common/api-error-response.js';
import { AppParams } from '../common/params.dto.js';
import {
  CreateKeywordRequestDto,
  DryRunRequestDto,
  DryRunResponseDto,
  KeywordDto,
  KeywordIdParams,
  KeywordListResponseDto,
  ListKeywordsQueryDto,
  MAX_CUSTOM_KEYWORDS,
} from './dto/keywords.dto.js';
import { KeywordsService } from './keywords.service.js';

/** An app's opt-out / opt-in / help keywords: the defaults, its own, and a dry run. */
@ApiTags('Keywords')
@Controller('v1/projects/:project_id/apps/:app_id')
export class KeywordsController {
  constructor(private readonly keywords: KeywordsService) {}

  @Get('keywords')
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary: 'The keywords in force for an app: the defaults, then its custom keywords',
  })
  @ApiOkResponse({ type: KeywordListResponseDto, description: "The app's keywords" })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  async listKeywords(
    @Param() p: AppParams,
    @Query() q: ListKeywordsQueryDto,
  ): Promise<KeywordListResponseDto> {
    const keywords = await this.keywords.list(
      { projectId: p.project_id, appId: p.app_id },
      q.source,
    );
    return { keywords };
  }

  @Post('keywords')
  @RequireScope(Scope.ADMIN)
  @ApiOperation({
    summary: 'Add a custom keyword',
    description: `A phrase means one thing: it is refused (400, nothing stored) when it clashes with or duplicates a keyword in force, compared ignoring case, accents, punctuation and spacing. A variant of a keyword with the same meaning ("Stop." beside STOP) is allowed: it makes SINCH_EXACT matching accept it. An FCC per-se revocation word (QUIT, END, ...) can only be an OPT_OUT of OPT_OUT_ALL. At most ${MAX_CUSTOM_KEYWORDS} custom keywords per app.`,
  })
  @ApiCreatedResponse({ type: KeywordDto, description: 'The keyword stored' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  createKeyword(@Param() p: AppParams, @Body() dto: CreateKeywordRequestDto): Promise<KeywordDto> {
    return this.keywords.create({ projectId: p.project_id, appId: p.app_id }, dto);
  }

  @Delete('keywords/:keyword_id')
  @RequireScope(Scope.ADMIN)
  @ApiOperation({
    summary: 'Delete a custom keyword (defaults cannot be deleted)',
    description: 'Answers with the deleted keyword.',
  })
  @ApiOkResponse({ type: KeywordDto, description: 'The keyword deleted' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  @ApiErrorResponse(
    404,
    'The app has no custom keyword with this id',
    ApiError.notFound('This app has no custom keyword 01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A.'),
  )
  deleteKeyword(@Param() p: KeywordIdParams): Promise<KeywordDto> {
    return this.keywords.delete({ projectId: p.project_id, appId: p.app_id }, p.keyword_id);
  }

  @Post('keywords::dry-run')
  @HttpCode(200)
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary: 'What an inbound message with this text would do for this app (changes nothing)',
    description:
      "Matched with the app's current keywords and settings (matching_profile, auto_reply, replies), read from the database rather than the per-instance caches.",
  })
  @ApiOkResponse({ type: DryRunResponseDto, description: 'What each message would match' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  async dryRunKeywords(
    @Param() p: AppParams,
    @Body() dto: DryRunRequestDto,
  ): Promise<DryRunResponseDto> {
    const { evaluation, settings } = await this.keywords.evaluateFresh(
      { projectId: p.project_id, appId: p.app_id },
      dto.text,
    );
    if (!evaluation) {
      return {
        matched: false,
        profile: settings.profile,
        keyword: null,
        action: null,
        list_type: null,
        language: null,
        fcc_revocation: false,
        reply: null,
        auto_reply: settings.auto_reply,
      };
    }
    const { rule, fcc_revocation } = evaluation.match;
    return {
      matched: true,
      profile: evaluation.profile,
      keyword: {
        phrase: rule.phrase,
        action: rule.action,
        list_type: rule.list_type,
        language: rule.language,
        source: rule.source,
      },
      action: rule.action,
      list_type: rule.list_type,
      language: rule.language,
      fcc_revocation,
      reply: evaluation.reply,
      auto_reply: evaluation.auto_reply,
    };
  }
}
