import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Scope } from '../auth/api-key.entity.js';
import { Public, RequireScope } from '../auth/auth.decorators.js';
import { ApiErrorResponse } from '../common/api-error-response.js';
import { AppParams } from '../common/params.dto.js';
import { PageQueryDto } from '../common/page-query.dto.js';
import { AuditCheckpointService, noRecordsToCheckpoint } from './audit-checkpoint.service.js';
import { AuditSigningService } from './audit-signing.service.js';
import { AuditVerifyService } from './audit-verify.service.js';
import {
  AuditCheckpointDto,
  AuditCheckpointPageDto,
  AuditVerifyResponseDto,
  SigningKeyDto,
} from './dto/audit-chain.dto.js';

/** The audit trail's proof: verification of the hash chain, signed checkpoints, the public key. */
@ApiTags('Audit proof')
@Controller()
export class AuditController {
  constructor(
    private readonly verifier: AuditVerifyService,
    private readonly checkpoints: AuditCheckpointService,
    private readonly signing: AuditSigningService,
  ) {}

  @Get('v1/projects/:project_id/apps/:app_id/audit::verify')
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary: "Verify the app's audit hash chain",
    description:
      "Reads every audit record of the app in chain order and checks that each is at the next position, names the previous record's hash as prev_hash, hashes to its stored hash from its stored values (SHA-256 over prev_hash and the record's canonical encoding, see the README's Proof section) and, when it holds a clear identity, that the identity matches its keyed hash; and every stored checkpoint of the app: its signature, and the hash at the position it signed (a checkpoint past the chain's end means records were removed). Streams the chain (constant memory) and stops at the first bad record. A chain and checkpoint table rewritten whole by someone who can write to the database still verifies: compare head_hash, or a checkpoint, with one kept elsewhere.",
  })
  @ApiOkResponse({
    type: AuditVerifyResponseDto,
    description: 'The outcome of the walk (also when the chain does not verify)',
  })
  verify(@Param() p: AppParams): Promise<AuditVerifyResponseDto> {
    return this.verifier.verify({ projectId: p.project_id, appId: p.app_id });
  }

  @Post('v1/projects/:project_id/apps/:app_id/audit::checkpoint')
  @RequireScope(Scope.WRITE)
  @HttpCode(201)
  @ApiOperation({
    summary: "Sign a checkpoint of the app's audit chain now",
    description:
      "Verifies the records since the app's previous checkpoint, then signs the chain head (record id, position, hash, time, key id) with the service's Ed25519 key (GET /v1/audit-signing-key) and keeps the checkpoint. Publish it elsewhere (a ticket, a notary, another system): history rewritten before it can then be shown, whatever happens to this database. The service also signs one every AUDIT_CHECKPOINT_INTERVAL_S for each app whose chain grew.",
  })
  @ApiCreatedResponse({ type: AuditCheckpointDto, description: 'The checkpoint signed' })
  @ApiErrorResponse(
    409,
    'The chain does not verify (nothing is signed), or the app has no audit records',
    noRecordsToCheckpoint(),
  )
  checkpoint(@Param() p: AppParams): Promise<AuditCheckpointDto> {
    return this.checkpoints.checkpoint({ projectId: p.project_id, appId: p.app_id });
  }

  @Get('v1/projects/:project_id/apps/:app_id/audit-checkpoints')
  @RequireScope(Scope.READ)
  @ApiOperation({ summary: "The app's signed checkpoints, newest first, paged" })
  @ApiOkResponse({ type: AuditCheckpointPageDto, description: 'A page of checkpoints' })
  @ApiErrorResponse(400, 'A bad page_size or page_token')
  list(@Param() p: AppParams, @Query() q: PageQueryDto): Promise<AuditCheckpointPageDto> {
    return this.checkpoints.page(
      { projectId: p.project_id, appId: p.app_id },
      q.page_size ?? 50,
      q.page_token,
    );
  }

  @Get('v1/audit-signing-key')
  @Public()
  @ApiOperation({
    summary: 'The public key that signs audit checkpoints',
    description:
      'Public: anyone who holds a checkpoint or an evidence bundle checks its signature with it. Pin its key_id where you keep checkpoints; after a rotation (a new AUDIT_SIGNING_KEY) older checkpoints keep the public key they were signed with.',
  })
  @ApiOkResponse({ type: SigningKeyDto, description: 'The public key checkpoints are signed with' })
  signingKey(): SigningKeyDto {
    return this.signing.key();
  }
}
