import { Module } from '@nestjs/common';
import { ConsentModule } from '../consent/consent.module.js';
import { JobsModule } from '../jobs/jobs.module.js';
import { ImportHandler } from './import.handler.js';
import { ImportsController } from './imports.controller.js';
import { ImportsRepository } from './imports.repository.js';
import { ImportsService } from './imports.service.js';

/**
 * Bulk imports: the upload endpoint and status (ImportsController, ImportsService), the staging
 * tables (ImportsRepository) and the JobRunner's handler of IMPORT jobs that applies them
 * through ConsentService (ImportHandler). The CLI (scripts/import.ts) uses the same service.
 */
@Module({
  imports: [ConsentModule, JobsModule],
  controllers: [ImportsController],
  providers: [ImportsRepository, ImportsService, ImportHandler],
  exports: [ImportsService],
})
export class ImportsModule {}
