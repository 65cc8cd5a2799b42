import { Module } from '@nestjs/common';
import { AuditChainRepository } from './audit-chain.repository.js';
import { AuditCheckpointService } from './audit-checkpoint.service.js';
import { AuditController } from './audit.controller.js';
import { AuditRepository } from './audit.repository.js';
import { AuditSigningService } from './audit-signing.service.js';
import { AuditVerifyService } from './audit-verify.service.js';

@Module({
  controllers: [AuditController],
  providers: [
    AuditRepository,
    AuditChainRepository,
    AuditVerifyService,
    AuditSigningService,
    AuditCheckpointService,
  ],
  exports: [
    AuditRepository,
    AuditChainRepository,
    AuditVerifyService,
    AuditSigningService,
    AuditCheckpointService,
  ],
})
export class AuditModule {}
