import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { CaModule } from '../ca/ca.module';
import { JobsModule } from '../jobs/jobs.module';
import { AriScheduleRepository } from './ari-schedule.repository';
import { AriScheduleService } from './ari-schedule.service';
import { RenewalCheckRepository } from './renewal-check.repository';
import { RenewalCheckService } from './renewal-check.service';
import { ShortLivedExpiryRepository } from './short-lived-expiry.repository';
import { ShortLivedExpiryService } from './short-lived-expiry.service';

/**
 * Bounded context `renewal`: the renewal check (expiry statuses, threshold alerts,
 * renewal jobs, ARI-driven renewal times for ACME certificates) and the short-lived expiry loop. The jobs it creates are run by the job
 * engine's issuance handler.
 */
@Module({
  imports: [AuditModule, CaModule, JobsModule],
  providers: [
    AriScheduleRepository,
    AriScheduleService,
    RenewalCheckRepository,
    RenewalCheckService,
    ShortLivedExpiryRepository,
    ShortLivedExpiryService,
  ],
  exports: [RenewalCheckService, ShortLivedExpiryService],
})
export class RenewalModule {}
