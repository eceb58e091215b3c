import { Module } from '@nestjs/common';
import { issuerConnectorRegistry, ISSUER_CONNECTORS } from '@certctl/connectors';
import { AuditModule } from '../audit/audit.module';
import { CaStore } from './ca-store';
import { IssuerConnectors } from './issuer-connectors';

/** CA material of Local CA issuers and the issuer connector registry. */
@Module({
  imports: [AuditModule],
  providers: [CaStore, IssuerConnectors, { provide: ISSUER_CONNECTORS, useFactory: issuerConnectorRegistry }],
  exports: [CaStore, IssuerConnectors],
})
export class CaModule {}
