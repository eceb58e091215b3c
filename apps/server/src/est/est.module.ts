import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { CaModule } from '../ca/ca.module';
import { EnrollmentModule } from '../enrollment/enrollment.module';
import { EstAuth } from './est-auth';
import { EstLabels } from './est-labels';
import { EstController } from './est.controller';
import { EstService } from './est.service';

/** EST (RFC 7030) under /.well-known/est[/{label}]. */
@Module({
  imports: [AuditModule, CaModule, EnrollmentModule],
  controllers: [EstController],
  providers: [EstLabels, EstAuth, EstService],
})
export class EstModule {}
