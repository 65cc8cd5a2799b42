import { Module } from '@nestjs/common';
import { CallbacksModule } from '../callbacks/callbacks.module.js';
import { ConsentModule } from '../consent/consent.module.js';
import { SinchModule } from '../sinch/sinch.module.js';
import { SendGateController } from './send-gate.controller.js';
import { SendGateRepository } from './send-gate.repository.js';
import { SendGateService } from './send-gate.service.js';

/**
 * The send gate: POST /v1/projects/{project_id}/messages:send, Sinch-compatible, checked against
 * the consent lists before it is forwarded to Sinch. Webhooks feed its contact_identities through
 * recordContactIdentity (send-gate.repository.ts).
 */
@Module({
  imports: [ConsentModule, SinchModule, CallbacksModule],
  controllers: [SendGateController],
  providers: [SendGateService, SendGateRepository],
})
export class SendGateModule {}
