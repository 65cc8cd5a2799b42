import { Module } from '@nestjs/common';
import { ConsentModule } from '../consent/consent.module.js';
import { JobsModule } from '../jobs/jobs.module.js';
import { MetricsModule } from '../metrics/metrics.js';
import { SinchModule } from '../sinch/sinch.module.js';
import { ReplyJobsController } from './reply-jobs.controller.js';
import { ReplyJobsService } from './reply-jobs.service.js';
import { ReplyQueue } from './reply-queue.js';
import { ReplyHandler } from './reply.handler.js';

/**
 * Confirmation replies: ReplyQueue.enqueue (called inside the consent change's transaction),
 * the ReplyHandler that the JobRunner runs to send them through Sinch, and the reply-jobs
 * listing.
 */
@Module({
  imports: [JobsModule, SinchModule, MetricsModule, ConsentModule],
  controllers: [ReplyJobsController],
  providers: [ReplyQueue, ReplyJobsService, ReplyHandler],
  exports: [ReplyQueue],
})
export class RepliesModule {}
