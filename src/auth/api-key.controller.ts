import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiError } from '../common/api-error.js';
import { ApiErrorResponse } from '../common/api-error-response.js';
import { validationErrorOf } from '../common/validation.js';
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
  @ApiCreatedResponse({
    type: CreateApiKeyResponseDto,
    description: 'The key, with its secret (shown only here)',
  })
  @ApiErrorResponse(
    400,
    'Invalid request: each failing field named in a google.rpc.BadRequest',
    validationErrorOf(CreateApiKeyRequestDto, { name: 'billing-service', scopes: ['owner'] }),
  )
  createApiKey(
    @Body() dto: CreateApiKeyRequestDto,
    @CurrentPrincipal() by: Principal,
  ): Promise<CreateApiKeyResponseDto> {
    return this.keys.create(dto, by);
  }

  @Get()
  @ApiOperation({ summary: 'List API keys (never their secrets)' })
  @ApiOkResponse({ type: ApiKeyListResponseDto, description: 'Every API key, revoked ones too' })
  async listApiKeys(): Promise<ApiKeyListResponseDto> {
    return { api_keys: await this.keys.list() };
  }

  @Delete(':key_id')
  @ApiOperation({
    summary:
      'Revoke an API key (its secret and tokens stop working at once on every instance that listens for configuration changes, else within AUTH_CACHE_TTL_MS)',
  })
  @ApiOkResponse({ type: ApiKeyResponseDto, description: 'The key, revoked' })
  @ApiErrorResponse(
    404,
    'No API key with this id',
    ApiError.notFound('API key 01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A not found'),
  )
  revokeApiKey(@Param() params: KeyIdParams): Promise<ApiKeyResponseDto> {
    return this.keys.revoke(params.key_id);
  }
}
