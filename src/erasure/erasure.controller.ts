import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Scope } from '../auth/api-key.entity.js';
import { RequireScope } from '../auth/auth.decorators.js';
import { CurrentPrincipal } from '../auth/current-principal.decorator.js';
import type { Principal } from '../auth/principal.js';
import { ApiError } from '../common/api-error.js';
import { ApiErrorResponse } from '../common/api-error-response.js';
import { IdentityParams } from '../consent/dto/sinch-consents.dto.js';
import { ErasureRequestDto, ErasureResponseDto } from './dto/erasure.dto.js';
import { ErasureService } from './erasure.service.js';

@ApiTags('Audit proof')
@Controller('v1/projects/:project_id/apps/:app_id')
export class ErasureController {
  constructor(private readonly erasure: ErasureService) {}

  @Post('identities/:identity(^[^/:]+)::erase')
  @HttpCode(200)
  @RequireScope(Scope.ADMIN)
  @ApiOperation({
    summary: 'Erase an identity, keeping its suppression (GDPR Art. 17 with Art. 17(3))',
    description:
      "Replaces the identity, everywhere this app stored it in clear (consent state, audit trail, send attempts, webhook deliveries), by `erased:<keyed hash>` (HMAC-SHA256 with the service's identity key), the audit records' reason and evidence by their SHA-256, and removes its Sinch contact identities, the jobs that name it (queued or finished confirmation replies and callbacks) and staged import rows. It stays on its lists by the keyed hash: a later check or send to the number is still BLOCKED, a later STOP or START still applies (to the erased form), and the audit chain still verifies (it covers the keyed hash and the digests, not the clear values). Appends an ERASURE audit record. Repeatable: a later erasure removes what was stored in clear since. 404 when nothing is stored about the identity. See the README's Erasure section for what is kept and why.",
  })
  @ApiBody({ type: ErasureRequestDto, required: false })
  @ApiOkResponse({ type: ErasureResponseDto, description: 'The identity was erased' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  @ApiErrorResponse(
    404,
    'Nothing is stored about the identity in this app',
    ApiError.notFound('Nothing is stored about this identity in this app.'),
  )
  erase(
    @Param() p: IdentityParams,
    @Body() dto: ErasureRequestDto,
    @CurrentPrincipal() by: Principal,
  ): Promise<ErasureResponseDto> {
    return this.erasure.erase(
      { projectId: p.project_id, appId: p.app_id },
      this.erasure.normalize(p.identity),
      by.keyId,
      dto?.reason ?? null,
    );
  }
}
