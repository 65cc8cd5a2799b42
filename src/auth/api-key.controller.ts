import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiCreatedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { ErrorResponseDto } from '../common/error-response.dto.js';
import { Scope } from './api-key.entity.js';
import { ApiKeyService } from './api-key.service.js';
import { CurrentPrincipal } from './current-principal.decorator.js';
import { RequireScope } from './auth.decorators.js';
import {
  ApiKeyListResponseDto,
  ApiKeyResponseDto,
  CreateApiKeyRequestDto,
  CreateApiKeyResponseDto,
  KeyIdParams,
} from './dto/api-key.dto.js';
import type { Principal } from './principal.js';

@ApiTags('API keys')
@RequireScope(Scope.ADMIN)
@Controller('v1/api-keys')
export class ApiKeyController {
  constructor(private readonly keys: ApiKeyService) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Mint a scoped API key; the secret is shown once' })
  @ApiCreatedResponse({ type: CreateApiKeyResponseDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  createApiKey(
    @Body() dto: CreateApiKeyRequestDto,
    @CurrentPrincipal() by: Principal,
  ): Promise<CreateApiKeyResponseDto> {
    return this.keys.create(dto, by);
  }

  @Get()
  @ApiOperation({ summary: 'List API keys (never their secrets)' })
  @ApiOkResponse({ type: ApiKeyListResponseDto })
  async listApiKeys(): Promise<ApiKeyListResponseDto> {
    return { api_keys: await this.keys.list() };
  }

  @Delete(':key_id')
  @ApiOperation({
    summary:
      'Revoke an API key (its secret and tokens stop working at once on every instance that listens for configuration changes, else within AUTH_CACHE_TTL_MS)',
  })
  @ApiOkResponse({ type: ApiKeyResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  revokeApiKey(@Param() params: KeyIdParams): Promise<ApiKeyResponseDto> {
    return this.keys.revoke(params.key_id);
  }
}
