import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { JobsModule } from '../jobs/jobs.module';
import { RenewalCheckRepository } from './renewal-check.repository';
import { RenewalCheckService } from './renewal-check.service';
import { ShortLivedExpiryRepository } from './short-lived-expiry.repository';
import { ShortLivedExpiryService } from './short-lived-expiry.service';

/**
 * Bounded context `renewal`: the renewal check (expiry statuses, threshold alerts,
 * renewal jobs) and the short-lived expiry loop. The jobs it creates are run by the job
 * engine's issuance handler.
 */
@Module({
  imports: [AuditModule, JobsModule],
  providers: [RenewalCheckRepository, RenewalCheckService, ShortLivedExpiryRepository, ShortLivedExpiryService],
  exports: [RenewalCheckService, ShortLivedExpiryService],
})
export class RenewalModule {}
