import { Module } from '@nestjs/common';
import { RetentionService } from './retention.service.js';

/** Deletes what is past its retention (webhook deliveries, finished jobs, callback attempts). */
@Module({ providers: [RetentionService] })
export class RetentionModule {}
