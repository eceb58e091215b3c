import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { PoliciesModule } from '../policies/policies.module';
import { CertificateVersionEntity, ManagedCertificateEntity } from './certificate.entity';
import { CertificatesController } from './certificates.controller';
import { CertificatesRepository } from './certificates.repository';
import { CertificatesService } from './certificates.service';
import { RevocationRepository } from './revocation.repository';
import { RevocationService } from './revocation.service';

/** Bounded context `certificates`: managed certificates, their versions and target mappings. */
@Module({
  imports: [
    TypeOrmModule.forFeature([ManagedCertificateEntity, CertificateVersionEntity]),
    AuditModule,
    PoliciesModule,
  ],
  controllers: [CertificatesController],
  providers: [CertificatesRepository, CertificatesService, RevocationRepository, RevocationService],
  exports: [CertificatesRepository],
})
export class CertificatesModule {}
