import { Module } from '@nestjs/common';
import { JobsModule } from '../jobs/jobs.module.js';
import { CallbackEmitter } from './callback-emitter.js';
import { CallbackRepository } from './callback.repository.js';
import { CallbackHandler } from './callback.handler.js';
import { CallbacksController } from './callbacks.controller.js';
import { CallbacksService } from './callbacks.service.js';

/**
 * Callbacks to the company's own systems: subscriptions (API), CallbackEmitter (queues a callback
 * inside the caller's transaction; used by ConsentModule and the send gate) and CallbackHandler
 * (the JobRunner's handler that delivers them, signed, with retries). Imports no feature module that could import it back.
 */
@Module({
  imports: [JobsModule],
  controllers: [CallbacksController],
  providers: [CallbackRepository, CallbackEmitter, CallbacksService, CallbackHandler],
  exports: [CallbackEmitter],
})
export class CallbacksModule {}
