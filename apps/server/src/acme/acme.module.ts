import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { CertificatesModule } from '../certificates/certificates.module';
import { EnrollmentModule } from '../enrollment/enrollment.module';
import { AcmeEabKeys } from './acme-eab';
import { AcmeEabController } from './acme-eab.controller';
import { AcmeNonces } from './acme-nonces';
import { AcmeController } from './acme.controller';
import { AcmeService } from './acme.service';

/** ACME server (RFC 8555) under /acme[/profile/{id}], and its EAB key admin API. */
@Module({
  imports: [AuditModule, CertificatesModule, EnrollmentModule],
  controllers: [AcmeController, AcmeEabController],
  providers: [AcmeService, AcmeNonces, AcmeEabKeys],
})
export class AcmeModule {}
