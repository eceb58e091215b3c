export { MalformedOcspRequest, OCSP_HASH_OIDS, certIdMatchesIssuer, parseOcspRequest } from './ocsp-request';
export type { OcspCertId, OcspHashAlgorithm, OcspRequestLimits, ParsedOcspRequest } from './ocsp-request';
export { buildOcspResponse, ocspErrorResponse } from './ocsp-response';
export type { BuildOcspResponseInput, OcspCertStatus, OcspErrorStatus, OcspSingleResponse } from './ocsp-response';
export { createOcspResponderCertificate, ocspResponderNeedsRotation } from './responder-certificate';
export type {
  OcspResponderCertificate,
  OcspResponderCertificateOptions,
  OcspResponderKeyAlgorithm,
} from './responder-certificate';
