import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { ContactsModule } from '../contacts/contacts.module.js';
import { ConsentModule } from '../consent/consent.module.js';
import { KeywordsModule } from '../keywords/keywords.module.js';
import { MetricsModule } from '../metrics/metrics.js';
import { RepliesModule } from '../replies/replies.module.js';
import { SettingsModule } from '../settings/settings.module.js';
import { DeliveryReportHandler } from './triggers/delivery-report.handler.js';
import { InboundMessageHandler } from './triggers/inbound-message.handler.js';
import { OptNotificationHandler } from './triggers/opt-notification.handler.js';
import { WebhooksRepository } from './webhooks.repository.js';
import { WebhooksController } from './webhooks.controller.js';
import { WebhooksService } from './webhooks.service.js';

@Module({
  imports: [
    AuditModule,
    ConsentModule,
    ContactsModule,
    KeywordsModule,
    RepliesModule,
    SettingsModule,
    MetricsModule,
  ],
  controllers: [WebhooksController],
  providers: [
    WebhooksService,
    WebhooksRepository,
    InboundMessageHandler,
    OptNotificationHandler,
    DeliveryReportHandler,
  ],
})
export class WebhooksModule {}
