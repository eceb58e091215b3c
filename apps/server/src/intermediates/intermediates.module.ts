import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { CaModule } from '../ca/ca.module';
import { CaCertificateController } from './ca-certificate.controller';
import { IntermediatesController } from './intermediates.controller';
import { IntermediatesRepository } from './intermediates.repository';
import { IntermediatesService } from './intermediates.service';

/** The CA hierarchy of Local CA issuers (intermediates, drain-first retirement) and CA certificate downloads. */
@Module({
  imports: [AuditModule, CaModule],
  controllers: [IntermediatesController, CaCertificateController],
  providers: [IntermediatesRepository, IntermediatesService],
})
export class IntermediatesModule {}
