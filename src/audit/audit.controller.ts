import { Controller, Get, Param } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Scope } from '../auth/api-key.entity.js';
import { RequireScope } from '../auth/auth.decorators.js';
import { AppParams } from '../common/params.dto.js';
import { AuditVerifyService } from './audit-verify.service.js';
import { AuditVerifyResponseDto } from './dto/audit-chain.dto.js';

/** The audit trail's proof: verification of the hash chain (read scope). */
@ApiTags('Audit proof')
@Controller('v1/projects/:project_id/apps/:app_id')
export class AuditController {
  constructor(private readonly verifier: AuditVerifyService) {}

  @Get('audit::verify')
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary: "Verify the app's audit hash chain",
    description:
      "Reads every audit record of the app in chain order and checks that each is at the next position, names the previous record's hash as prev_hash, hashes to its stored hash from its stored values (SHA-256 over prev_hash and the record's canonical encoding, see the README's Proof section) and, when it holds a clear identity, that the identity matches its keyed hash. Streams the chain (constant memory) and stops at the first bad record. A chain rewritten whole by someone who can write to the database (and knows the key) still verifies: compare head_hash with a checkpoint kept elsewhere.",
  })
  @ApiOkResponse({ type: AuditVerifyResponseDto })
  verify(@Param() p: AppParams): Promise<AuditVerifyResponseDto> {
    return this.verifier.verify({ projectId: p.project_id, appId: p.app_id });
  }
}
