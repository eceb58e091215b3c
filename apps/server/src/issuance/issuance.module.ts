import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { CaModule } from '../ca/ca.module';
import { JobsModule } from '../jobs/jobs.module';
import { PoliciesModule } from '../policies/policies.module';
import { IssuanceService } from './issuance.service';

/** Issuance and renewal jobs, and the agent's CSR completion. */
@Module({
  imports: [AuditModule, CaModule, JobsModule, PoliciesModule],
  providers: [IssuanceService],
  exports: [IssuanceService],
})
export class IssuanceModule {}
