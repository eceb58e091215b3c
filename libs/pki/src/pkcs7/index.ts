export { certsOnlyPkcs7, crlOnlyPkcs7, verbatimCertificate } from './certs-only';
