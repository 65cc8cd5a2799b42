import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { AuthModule } from '../auth/auth.module.js';
import { CheckFastPath } from './check-fast-path.js';
import { SettingsModule } from '../settings/settings.module.js';
import { ConsentEventsModule } from './consent-events.js';
import { ConsentRepository } from './consent.repository.js';
import { ConsentService } from './consent.service.js';
import { ConsentController } from './consent.controller.js';
import { EvidenceService } from './evidence.service.js';
import { PrimaryModeStrategy, SecondaryModeStrategy } from './domain/mode-strategy.js';
import { ModeStrategies } from './mode-strategies.js';
import { SinchConsentsController } from './sinch-consents.controller.js';

@Module({
  imports: [AuditModule, SettingsModule, ConsentEventsModule, AuthModule],
  controllers: [ConsentController, SinchConsentsController],
  providers: [
    ConsentRepository,
    ConsentService,
    PrimaryModeStrategy,
    SecondaryModeStrategy,
    ModeStrategies,
    CheckFastPath,
    EvidenceService,
  ],
  exports: [ConsentService, ConsentEventsModule],
})
export class ConsentModule {}
