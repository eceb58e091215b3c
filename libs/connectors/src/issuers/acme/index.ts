export type { AcmeAccountStore, AcmeConnectorDeps, Http01Publisher, IssuedCertificateLookup } from './acme-deps';
export type { AcmeAccountKey, RenewalInfo } from './acme-client';
export { AcmeConnector, ariCertId } from './acme-connector';
