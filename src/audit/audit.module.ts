import { Module } from '@nestjs/common';
import { AuditChainRepository } from './audit-chain.repository.js';
import { AuditController } from './audit.controller.js';
import { AuditRepository } from './audit.repository.js';
import { AuditVerifyService } from './audit-verify.service.js';

@Module({
  controllers: [AuditController],
  providers: [AuditRepository, AuditChainRepository, AuditVerifyService],
  exports: [AuditRepository, AuditChainRepository],
})
export class AuditModule {}
