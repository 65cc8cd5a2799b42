import { Module } from '@nestjs/common';
import { ConsentEventsModule } from '../consent/consent-events.js';
import { OutboxModule } from '../outbox/outbox.module.js';
import { CallbackEmitter } from './callback-emitter.js';
import { CallbacksRepository } from './callbacks.repository.js';
import { CallbackWorker } from './callback.worker.js';
import { CallbacksController } from './callbacks.controller.js';
import { CallbacksService } from './callbacks.service.js';

/**
 * Callbacks to the company's own systems: subscriptions (API), CallbackEmitter (queues a callback
 * inside the caller's transaction; subscribed to consent's ConsentEvents, called by the send gate)
 * and CallbackWorker (delivers them, signed, with retries). Imports no feature module that could
 * import it back.
 */
@Module({
  imports: [OutboxModule, ConsentEventsModule],
  controllers: [CallbacksController],
  providers: [CallbacksRepository, CallbackEmitter, CallbacksService, CallbackWorker],
  exports: [CallbackEmitter],
})
export class CallbacksModule {}
