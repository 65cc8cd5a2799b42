import { Module } from '@nestjs/common';
import { CallbacksModule } from '../callbacks/callbacks.module.js';
import { ContactsModule } from '../contacts/contacts.module.js';
import { ConsentModule } from '../consent/consent.module.js';
import { SinchModule } from '../sinch/sinch.module.js';
import { SendGateController } from './send-gate.controller.js';
import { SendGateRepository } from './send-gate.repository.js';
import { SendGateService } from './send-gate.service.js';

/**
 * The send gate: POST /v1/projects/{project_id}/messages:send, Sinch-compatible, checked against
 * the consent lists before it is forwarded to Sinch. A send by contact_id is checked against the
 * contact's identities in contacts/ (which webhooks record).
 */
@Module({
  imports: [ConsentModule, SinchModule, CallbacksModule, ContactsModule],
  controllers: [SendGateController],
  providers: [SendGateService, SendGateRepository],
})
export class SendGateModule {}
