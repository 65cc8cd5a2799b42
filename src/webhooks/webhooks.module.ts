import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { ConsentModule } from '../consent/consent.module.js';
import { KeywordsModule } from '../keywords/keywords.module.js';
import { MetricsModule } from '../metrics/metrics.js';
import { RepliesModule } from '../replies/replies.module.js';
import { SettingsModule } from '../settings/settings.module.js';
import { WebhookRepository } from './webhook.repository.js';
import { WebhooksController } from './webhooks.controller.js';
import { WebhooksService } from './webhooks.service.js';

@Module({
  imports: [
    AuditModule,
    ConsentModule,
    KeywordsModule,
    RepliesModule,
    SettingsModule,
    MetricsModule,
  ],
  controllers: [WebhooksController],
  providers: [WebhooksService, WebhookRepository],
})
export class WebhooksModule {}
