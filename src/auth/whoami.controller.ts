import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequireAnyScope } from './auth.decorators.js';
import { CurrentPrincipal } from './current-principal.decorator.js';
import { WhoamiResponseDto } from './dto/api-key.dto.js';
import type { Principal } from './principal.js';

/** Tells the caller who its bearer token is (the compliance console hides what it cannot do). */
@ApiTags('API keys')
@Controller('v1/whoami')
export class WhoamiController {
  @Get()
  @RequireAnyScope()
  @ApiOperation({
    summary: "The caller's own API key id and scopes",
    description:
      'Any valid bearer token (an API key secret, ADMIN_API_KEY, or an access token), whatever its scopes. Never returns a secret.',
  })
  @ApiOkResponse({ type: WhoamiResponseDto, description: 'The key id and scopes of the token' })
  whoami(@CurrentPrincipal() p: Principal): WhoamiResponseDto {
    return { key_id: p.keyId, scopes: [...p.scopes] };
  }
}
