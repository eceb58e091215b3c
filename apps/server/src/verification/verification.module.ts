import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { VerificationController } from './verification.controller';
import { VerificationRepository } from './verification.repository';
import { VerificationService } from './verification.service';

/** Post-deployment verification results reported by agents (POST/GET /api/v1/jobs/{id}/verif…). */
@Module({
  imports: [AuditModule],
  controllers: [VerificationController],
  providers: [VerificationRepository, VerificationService],
})
export class VerificationModule {}
