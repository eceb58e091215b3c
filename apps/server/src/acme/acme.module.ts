import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { QueueName } from '@certctl/domain';
import { AuditModule } from '../audit/audit.module';
import { CertificatesModule } from '../certificates/certificates.module';
import { EnrollmentModule } from '../enrollment/enrollment.module';
import { AcmeEabKeys } from './acme-eab';
import { AcmeGc } from './acme-gc';
import { AcmeMetrics } from './acme-metrics';
import { AcmeEabController } from './acme-eab.controller';
import { AcmeNonces } from './acme-nonces';
import { AcmeRateLimits } from './acme-rate-limits';
import { AcmeController } from './acme.controller';
import { AcmeService } from './acme.service';
import { AcmeValidationWorker } from './acme-validation.worker';

/** ACME server (RFC 8555) under /acme[/profile/{id}], and its EAB key admin API. */
@Module({
  imports: [
    AuditModule,
    CertificatesModule,
    EnrollmentModule,
    BullModule.registerQueue({ name: QueueName.AcmeValidation }),
  ],
  controllers: [AcmeController, AcmeEabController],
  providers: [AcmeService, AcmeNonces, AcmeEabKeys, AcmeRateLimits, AcmeValidationWorker, AcmeGc, AcmeMetrics],
})
export class AcmeModule {}
