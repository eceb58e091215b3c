import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { JobsModule } from '../jobs/jobs.module';
import { EnrollmentService } from './enrollment.service';
import { IntuneChallengeService } from './intune-challenge.service';

/** The issuance interface EST and SCEP share (see EnrollmentService). */
@Module({
  imports: [AuditModule, JobsModule],
  providers: [EnrollmentService, IntuneChallengeService],
  exports: [EnrollmentService, IntuneChallengeService],
})
export class EnrollmentModule {}
