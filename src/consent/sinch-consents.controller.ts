import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Scope } from '../auth/api-key.entity.js';
import { RequireScope } from '../auth/auth.decorators.js';
import { CurrentPrincipal } from '../auth/current-principal.decorator.js';
import type { Principal } from '../auth/principal.js';
import { ApiError } from '../common/api-error.js';
import { ApiErrorResponse } from '../common/api-error-response.js';
import { invalidId, ProjectParams } from '../common/params.dto.js';
import { ConsentService } from './consent.service.js';
import { AuditRecordKind } from './domain/consent-types.js';
import {
  AuditRecordsListResponseDto,
  BatchInsertConsentsRequestDto,
  BatchInsertConsentsResponseDto,
  IdentityParams,
  ListIdentitiesQueryDto,
  ListIdentitiesResponseDto,
  ListTypeParams,
} from './dto/sinch-consents.dto.js';

const SINCH_AUDIT_LIMIT = 1000;

/**
 * Wire-compatible with Sinch's Conversation API consents endpoints (and the Batch API insert),
 * so the official SDK's ConsentsApi works against this service.
 */
@ApiTags('Sinch-compatible consents')
@Controller('v1/projects/:project_id')
export class SinchConsentsController {
  constructor(private readonly consents: ConsentService) {}

  @Get('apps/:app_id/consents/identities/:identity')
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary: "An identity's audit records (Sinch ListAuditRecordsFromConsentsList)",
    description: `Consent changes only (Sinch's audit records know no other kind), oldest first, at most ${SINCH_AUDIT_LIMIT}. The native /identities/{identity}/audit-records endpoint pages through all of them, and also shows refused deliveries and confirmation replies.`,
  })
  @ApiOkResponse({ type: AuditRecordsListResponseDto, description: 'The audit records' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  async listAuditRecords(@Param() p: IdentityParams): Promise<AuditRecordsListResponseDto> {
    const identity = this.consents.normalize(p.identity, 'identity');
    const app = { projectId: p.project_id, appId: p.app_id };
    const { records } = await this.consents.auditPage(app, identity, SINCH_AUDIT_LIMIT, undefined, [
      AuditRecordKind.CONSENT_CHANGE,
    ]);
    return {
      identity: { identity },
      // A consent change always has these (database check consent_audit_consent_change_check).
      audit_records: records.map((r) => ({
        origin: r.origin!,
        operation: r.operation!,
        list_type: r.list_type!,
        project_id: r.project_id,
        app_id: r.app_id,
        datetime: r.event_time.toISOString(),
      })),
    };
  }

  @Get('apps/:app_id/consents/:list_type')
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary: 'Identities on a consent list, paged (Sinch ListIdentitiesFromConsentsList)',
  })
  @ApiOkResponse({ type: ListIdentitiesResponseDto, description: 'A page of identities' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  async listIdentities(
    @Param() p: ListTypeParams,
    @Query() q: ListIdentitiesQueryDto,
  ): Promise<ListIdentitiesResponseDto> {
    const page = await this.consents.listPage(
      { projectId: p.project_id, appId: p.app_id },
      p.list_type,
      q.page_size ?? 10,
      q.page_token,
    );
    return {
      identities: page.identities.map((identity) => ({ identity })),
      next_page_token: page.nextPageToken,
    };
  }

  @Post('consents')
  @HttpCode(200)
  @RequireScope(Scope.WRITE)
  @ApiOperation({
    summary: 'Insert identities into consent lists (Sinch Batch API shape)',
    description:
      'Unlike Sinch, all-or-nothing: one bad record rejects the whole batch with a 400 naming it, and nothing is stored.',
  })
  @ApiOkResponse({
    type: BatchInsertConsentsResponseDto,
    description: 'The outcome of each record',
  })
  @ApiErrorResponse(
    400,
    'Invalid request: each failing field named in a google.rpc.BadRequest',
    ApiError.invalidRequest([invalidId('project_id')]),
  )
  async insertConsents(
    @Param() p: ProjectParams,
    @Body() dto: BatchInsertConsentsRequestDto,
    @CurrentPrincipal() by: Principal,
  ): Promise<BatchInsertConsentsResponseDto> {
    const batchId = await this.consents.insertBatch(
      { projectId: p.project_id, appId: dto.app_id },
      dto.consent_records,
      by.keyId,
    );
    return { batch_id: batchId };
  }
}
