export { buildCrl } from './crl';
export type { BuildCrlInput, CrlEntry } from './crl';
export { CRL_REASON_CODES } from './reasons';
export type { CrlReason } from './reasons';
export type { SigningIdentity, CertificateInput } from './signing';
