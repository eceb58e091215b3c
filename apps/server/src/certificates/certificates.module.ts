import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { CaModule } from '../ca/ca.module';
import { JobsModule } from '../jobs/jobs.module';
import { PoliciesModule } from '../policies/policies.module';
import { CertificateActionsRepository } from './certificate-actions.repository';
import { CertificateActionsService } from './certificate-actions.service';
import { CertificateExpiryMetrics } from './certificate-expiry.metrics';
import { CertificateExportService } from './certificate-export.service';
import { CertificateVersionEntity, ManagedCertificateEntity } from './certificate.entity';
import { CertificatesController } from './certificates.controller';
import { CertificatesRepository } from './certificates.repository';
import { CertificatesService } from './certificates.service';
import { RevocationRepository } from './revocation.repository';
import { RevocationService } from './revocation.service';
import { ExportRateLimiter } from './export-rate-limiter';

/** Bounded context `certificates`: managed certificates, their versions and target mappings. */
@Module({
  imports: [
    TypeOrmModule.forFeature([ManagedCertificateEntity, CertificateVersionEntity]),
    AuditModule,
    PoliciesModule,
    JobsModule,
    CaModule,
  ],
  controllers: [CertificatesController],
  providers: [
    CertificatesRepository,
    CertificatesService,
    RevocationRepository,
    RevocationService,
    CertificateActionsRepository,
    CertificateActionsService,
    CertificateExportService,
    ExportRateLimiter,
    CertificateExpiryMetrics,
  ],
  exports: [CertificatesRepository, CertificatesService, RevocationService],
})
export class CertificatesModule {}
