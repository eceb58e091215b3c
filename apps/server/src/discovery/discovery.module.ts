import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { CertificatesModule } from '../certificates/certificates.module';
import {
  AgentDiscoveriesController,
  DiscoveredCertificatesController,
  DiscoveryScansController,
} from './discovery.controller';
import { DiscoveredCertificateEntity, DiscoveryScanEntity } from './discovery.entity';
import { DiscoveryRepository } from './discovery.repository';
import { DiscoveryTriageService } from './discovery-triage.service';
import { DiscoveryService } from './discovery.service';

/**
 * Bounded context `discovery`: agents' scan reports and the triage of what they found. A
 * claim creates managed certificates through CertificatesService, exactly as POST
 * /certificates does.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([DiscoveredCertificateEntity, DiscoveryScanEntity]),
    AuditModule,
    CertificatesModule,
  ],
  controllers: [AgentDiscoveriesController, DiscoveredCertificatesController, DiscoveryScansController],
  providers: [DiscoveryRepository, DiscoveryService, DiscoveryTriageService],
})
export class DiscoveryModule {}
