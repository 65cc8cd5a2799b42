import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Scope } from '../auth/api-key.entity.js';
import { RequireScope } from '../auth/auth.decorators.js';
import { ApiError } from '../common/api-error.js';
import { CurrentPrincipal } from '../auth/current-principal.decorator.js';
import type { Principal } from '../auth/principal.js';
import { AppParams } from '../common/params.dto.js';
import { ApiErrorResponse } from '../common/api-error-response.js';
import { toAuditRecordDto } from './audit-record-view.js';
import { ConsentService, ChangeResult } from './consent.service.js';
import { ChangeAction, ContentType, Origin } from './domain/consent-types.js';
import {
  AuditQueryDto,
  AuditRecordPageResponseDto,
  CheckRequestDto,
  CheckResponseDto,
  ConsentChangeRequestDto,
  ConsentChangeResponseDto,
  IdentityListParams,
  IdentityStateResponseDto,
  ListSizesResponseDto,
} from './dto/native-consents.dto.js';
import { IdentityParams } from './dto/sinch-consents.dto.js';
import { EvidenceBundleDto } from './dto/evidence.dto.js';
import { EvidenceService } from './evidence.service.js';

/** The native API for internal services: check before sending, opt out and in, read state. */
@ApiTags('Consents')
@Controller('v1/projects/:project_id/apps/:app_id')
export class ConsentController {
  constructor(
    private readonly consents: ConsentService,
    private readonly evidenceBundles: EvidenceService,
  ) {}

  @Post('consents::check')
  @HttpCode(200)
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary: 'May I send this content type to these identities? (1 to 10,000, answered in order)',
    description:
      'OPT_OUT_ALL blocks every content type; OPT_OUT_MARKETING blocks CONTENT_MARKETING; OPT_OUT_NOTIFICATION blocks CONTENT_NOTIFICATION; CONTENT_UNKNOWN is checked against OPT_OUT_ALL only. PRIMARY mode answers BLOCK on a match; SECONDARY always answers ALLOW and reports the match. With `at`, answers as consent stood at that instant, from the audit trail (the lists and the mode recorded by then), each result with `decided_by`: the audit records that put the identity on its lists.',
  })
  @ApiOkResponse({ type: CheckResponseDto, description: 'Whether each identity may be sent to' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  async checkConsents(
    @Param() p: AppParams,
    @Body() dto: CheckRequestDto,
  ): Promise<CheckResponseDto> {
    const app = { projectId: p.project_id, appId: p.app_id };
    const contentType = dto.message_content_type ?? ContentType.CONTENT_UNKNOWN;
    const answer =
      dto.at === undefined
        ? await this.consents.check(app, dto.identities, contentType)
        : await this.consents.checkAt(app, dto.identities, contentType, dto.at);
    return answer.toBody();
  }

  @Get('lists')
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary: "The app's opt-out lists and how many identities are on each now",
    description:
      'One count per list (identities opted out now), 0 for an empty one. The identities themselves: GET .../consents/{list_type} (paged) or .../consents/{list_type}:export (streamed).',
  })
  @ApiOkResponse({ type: ListSizesResponseDto, description: 'Every list with its size' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  async listSizes(@Param() p: AppParams): Promise<ListSizesResponseDto> {
    return { lists: await this.consents.listSizes({ projectId: p.project_id, appId: p.app_id }) };
  }

  @Get('identities/:identity')
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary: "An identity's current state: the lists it is on, since when, from which origin",
  })
  @ApiOkResponse({ type: IdentityStateResponseDto, description: "The identity's lists" })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  getIdentityState(@Param() p: IdentityParams): Promise<IdentityStateResponseDto> {
    const identity = this.consents.normalizeLookup(p.identity, 'identity');
    return this.consents.identityState({ projectId: p.project_id, appId: p.app_id }, identity);
  }

  @Put('identities/:identity/opt-outs/:list_type')
  @RequireScope(Scope.WRITE)
  @ApiOperation({
    summary: 'Put an identity on an opt-out list (idempotent)',
    description: 'Writes one audit record whatever the outcome (APPLIED, NO_CHANGE or SUPERSEDED).',
  })
  @ApiBody({ type: ConsentChangeRequestDto, required: false })
  @ApiOkResponse({
    type: ConsentChangeResponseDto,
    description: 'The identity is on the list (the change, or the state it already had)',
  })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  optOut(
    @Param() p: IdentityListParams,
    @Body() dto: ConsentChangeRequestDto,
    @CurrentPrincipal() by: Principal,
  ): Promise<ConsentChangeResponseDto> {
    return this.change(p, dto, by, ChangeAction.OPT_OUT);
  }

  @Delete('identities/:identity/opt-outs/:list_type')
  @RequireScope(Scope.WRITE)
  @ApiOperation({
    summary: 'Take an identity off an opt-out list (opt back in; idempotent)',
    description: 'Writes one audit record whatever the outcome (APPLIED, NO_CHANGE or SUPERSEDED).',
  })
  @ApiBody({ type: ConsentChangeRequestDto, required: false })
  @ApiOkResponse({
    type: ConsentChangeResponseDto,
    description: 'The identity is off the list (the change, or the state it already had)',
  })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  optIn(
    @Param() p: IdentityListParams,
    @Body() dto: ConsentChangeRequestDto,
    @CurrentPrincipal() by: Principal,
  ): Promise<ConsentChangeResponseDto> {
    return this.change(p, dto, by, ChangeAction.OPT_IN);
  }

  @Get('identities/:identity(^[^/:]+)::evidence')
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary: 'An evidence bundle about an identity, checkable offline',
    description:
      "One JSON document: the identity's current lists, every audit record about it with its clear values, the hash-chain segment from its first record to the earliest signed checkpoint that covers its last one (a checkpoint of the head is signed first when none does yet), that checkpoint with its signature, and the public key. `npm run verify-evidence -- bundle.json` checks it with no database and prints what it proves (see the README's Proof section). 404 when no audit record is about the identity.",
  })
  @ApiOkResponse({ type: EvidenceBundleDto, description: 'The evidence bundle' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  @ApiErrorResponse(
    404,
    'No audit record about the identity',
    ApiError.notFound('No audit record about this identity in this app.'),
  )
  async evidence(@Param() p: IdentityParams): Promise<EvidenceBundleDto> {
    const identity = this.consents.normalizeLookup(p.identity, 'identity');
    const bundle = await this.evidenceBundles.bundle(
      { projectId: p.project_id, appId: p.app_id },
      identity,
    );
    return bundle as EvidenceBundleDto;
  }

  @Get('identities/:identity/audit-records')
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary: "An identity's full audit trail, oldest first, paged",
    description:
      'All kinds of records in id (recording) order: consent changes, refused deliveries and confirmation reply outcomes (see kind).',
  })
  @ApiOkResponse({
    type: AuditRecordPageResponseDto,
    description: 'A page of audit records, newest first',
  })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  async listIdentityAuditRecords(
    @Param() p: IdentityParams,
    @Query() q: AuditQueryDto,
  ): Promise<AuditRecordPageResponseDto> {
    const identity = this.consents.normalizeLookup(p.identity, 'identity');
    const page = await this.consents.auditPage(
      { projectId: p.project_id, appId: p.app_id },
      identity,
      q.page_size ?? 100,
      q.page_token,
    );
    return {
      audit_records: page.records.map(toAuditRecordDto),
      next_page_token: page.nextPageToken,
    };
  }

  private async change(
    p: IdentityListParams,
    dto: ConsentChangeRequestDto | undefined,
    by: Principal,
    action: ChangeAction,
  ): Promise<ConsentChangeResponseDto> {
    const identity = this.consents.normalize(p.identity, 'identity');
    const eventTime = this.consents.parseChangeExtras(dto?.event_time, dto?.evidence);
    const [result] = await this.consents.applyChanges(
      {
        app: { projectId: p.project_id, appId: p.app_id },
        origin: Origin.ORIGIN_API,
        actor: by.keyId,
      },
      [
        {
          identity,
          listType: p.list_type,
          action,
          eventTime,
          reason: dto?.reason,
          evidence: dto?.evidence,
        },
      ],
    );
    return toChangeDto(result!);
  }
}

function toChangeDto(r: ChangeResult): ConsentChangeResponseDto {
  return {
    identity: r.identity,
    list_type: r.listType,
    outcome: r.outcome,
    operation: r.operation,
    audit_record_id: r.auditRecordId,
    event_time: r.eventTime.toISOString(),
    opted_out: r.optedOut,
  };
}
