import { Body, Controller, Get, Param, Put } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Scope } from '../auth/api-key.entity.js';
import { RequireScope } from '../auth/auth.decorators.js';
import { CurrentPrincipal } from '../auth/current-principal.decorator.js';
import type { Principal } from '../auth/principal.js';
import { AppParams } from '../common/params.dto.js';
import { ApiErrorResponse } from '../common/api-error-response.js';
import {
  ConsentSettingsResponseDto,
  PutConsentSettingsRequestDto,
} from './dto/consent-settings.dto.js';
import { SettingsService } from './settings.service.js';

@ApiTags('Consent settings')
@Controller('v1/projects/:project_id/apps/:app_id/consent-settings')
export class SettingsController {
  constructor(private readonly settings: SettingsService) {}

  @Get()
  @RequireScope(Scope.READ)
  @ApiOperation({ summary: "Read an app's consent settings (defaults when none are stored)" })
  @ApiOkResponse({ type: ConsentSettingsResponseDto, description: "The app's settings" })
  getConsentSettings(@Param() p: AppParams): Promise<ConsentSettingsResponseDto> {
    return this.settings.get({ projectId: p.project_id, appId: p.app_id });
  }

  @Put()
  @RequireScope(Scope.ADMIN)
  @ApiOperation({
    summary: "Set an app's consent settings (mode PRIMARY or SECONDARY)",
    description:
      'A PUT that changes anything appends one SETTINGS_CHANGE audit record (the settings after it, never a secret); consents:check with `at` reads the mode of that instant from them.',
  })
  @ApiOkResponse({ type: ConsentSettingsResponseDto, description: 'The settings stored' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  putConsentSettings(
    @Param() p: AppParams,
    @Body() dto: PutConsentSettingsRequestDto,
    @CurrentPrincipal() by: Principal,
  ): Promise<ConsentSettingsResponseDto> {
    return this.settings.put({ projectId: p.project_id, appId: p.app_id }, dto, by.keyId);
  }
}
