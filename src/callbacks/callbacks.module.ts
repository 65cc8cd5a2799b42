import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.js';
import { ConsentEventsModule } from '../consent/consent-events.js';
import { JobsModule } from '../jobs/jobs.module.js';
import { CallbackEmitter } from './callback-emitter.js';
import { CallbacksRepository } from './callbacks.repository.js';
import { CallbackHandler } from './callback.handler.js';
import { CallbacksController } from './callbacks.controller.js';
import { CallbacksService } from './callbacks.service.js';

/**
 * Callbacks to the company's own systems: subscriptions (API), CallbackEmitter (queues a callback
 * inside the caller's transaction; subscribed to consent's ConsentEvents, called by the send gate)
 * and CallbackHandler (the JobRunner's handler that delivers them, signed, with retries). Imports
 * no feature module that could import it back.
 */
@Module({
  imports: [JobsModule, ConsentEventsModule, MetricsModule],
  controllers: [CallbacksController],
  providers: [CallbacksRepository, CallbackEmitter, CallbacksService, CallbackHandler],
  exports: [CallbackEmitter],
})
export class CallbacksModule {}
