import { Module } from '@nestjs/common';
import { SinchModule } from '../sinch/sinch.module.js';
import { OutboxController } from './outbox.controller.js';
import { OutboxRepository } from './outbox.repository.js';
import { OutboxService } from './outbox.service.js';
import { OutboxWorker } from './outbox.worker.js';

/**
 * The transactional outbox for confirmation replies: OutboxRepository.enqueueReply (called inside
 * the consent change's transaction), the OutboxWorker that sends through Sinch, and the
 * reply-jobs listing. OutboxRepository.enqueue / claimDue serve other job kinds too (CALLBACK
 * jobs, delivered by callbacks/CallbackWorker on its own PollingLoop).
 */
@Module({
  imports: [SinchModule],
  controllers: [OutboxController],
  providers: [OutboxRepository, OutboxService, OutboxWorker],
  exports: [OutboxRepository],
})
export class OutboxModule {}
