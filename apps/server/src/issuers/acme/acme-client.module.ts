import { Module } from '@nestjs/common';
import type { AcmeConnectorDeps } from '@certctl/connectors';
import { PgAcmeAccountStore } from './acme-account.store';
import { Http01Responder } from './http01-responder';
import { PgIssuedCertificateLookup } from './issued-certificates.lookup';

/** Injection token of what the ACME issuer connector needs from the server. */
export const ACME_CONNECTOR_DEPS = Symbol('ACME_CONNECTOR_DEPS');

/** Server side of ACME issuers: sealed account storage, the http-01 responder, the certificate lookup. */
@Module({
  providers: [
    PgAcmeAccountStore,
    PgIssuedCertificateLookup,
    Http01Responder,
    {
      provide: ACME_CONNECTOR_DEPS,
      inject: [PgAcmeAccountStore, Http01Responder, PgIssuedCertificateLookup],
      useFactory: (
        accounts: PgAcmeAccountStore,
        http01: Http01Responder,
        certificates: PgIssuedCertificateLookup,
      ): AcmeConnectorDeps => ({ accounts, http01, certificates }),
    },
  ],
  exports: [ACME_CONNECTOR_DEPS],
})
export class AcmeClientModule {}
