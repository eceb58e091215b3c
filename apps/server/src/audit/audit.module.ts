import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { QueueName } from '@certctl/domain';
import { ApiAuditMiddleware } from './api-audit.middleware';
import { AuditController } from './audit.controller';
import { AuditProcessor } from './audit.processor';
import { AuditRepository } from './audit.repository';
import { AuditService } from './audit.service';

@Module({
  imports: [BullModule.registerQueue({ name: QueueName.Audit })],
  controllers: [AuditController],
  providers: [AuditRepository, AuditService, AuditProcessor, ApiAuditMiddleware],
  exports: [AuditService, AuditRepository, ApiAuditMiddleware],
})
export class AuditModule {}
