import { Module } from '@nestjs/common';
import { JobQueueRepository } from './job-queue.repository.js';
import { JobRunner } from './job-runner.js';

/**
 * The durable job queue (JobQueueRepository) and the JobRunner that runs the handlers registered
 * with it (replies/ReplyHandler, callbacks/CallbackHandler). Imports no feature module.
 */
@Module({
  providers: [JobQueueRepository, JobRunner],
  exports: [JobQueueRepository, JobRunner],
})
export class JobsModule {}
