import { Module } from '@nestjs/common';
import { issuerConnectorRegistry, ISSUER_CONNECTORS } from '@certctl/connectors';
import { AuditModule } from '../audit/audit.module';
import { CaStore } from './ca-store';
import { DefaultIssuerBoot } from './default-issuer';
import { IssuerConnectors } from './issuer-connectors';

/** CA material of Local CA issuers and the issuer connector registry. */
@Module({
  imports: [AuditModule],
  providers: [
    CaStore,
    IssuerConnectors,
    { provide: ISSUER_CONNECTORS, useFactory: issuerConnectorRegistry },
    // CERTCTL_CA_CERT_PATH / CERTCTL_CA_KEY_PATH: the built-in sub-CA issuer, ensured at boot.
    DefaultIssuerBoot,
  ],
  exports: [CaStore, IssuerConnectors],
})
export class CaModule {}
