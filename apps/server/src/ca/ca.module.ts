import { Module } from '@nestjs/common';
import { issuerConnectorRegistry, ISSUER_CONNECTORS, type AcmeConnectorDeps } from '@certctl/connectors';
import { AuditModule } from '../audit/audit.module';
import { ACME_CONNECTOR_DEPS, AcmeClientModule } from '../issuers/acme/acme-client.module';
import { CaStore } from './ca-store';
import { DefaultIssuerBoot } from './default-issuer';
import { IssuerConnectors } from './issuer-connectors';

/** CA material of Local CA issuers and the issuer connector registry. */
@Module({
  imports: [AuditModule, AcmeClientModule],
  providers: [
    CaStore,
    IssuerConnectors,
    {
      provide: ISSUER_CONNECTORS,
      inject: [ACME_CONNECTOR_DEPS],
      useFactory: (acme: AcmeConnectorDeps) => issuerConnectorRegistry({ acme }),
    },
    // CERTCTL_CA_CERT_PATH / CERTCTL_CA_KEY_PATH: the built-in sub-CA issuer, ensured at boot.
    DefaultIssuerBoot,
  ],
  exports: [CaStore, IssuerConnectors],
})
export class CaModule {}
