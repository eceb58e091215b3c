export { certsOnlyPkcs7, crlOnlyPkcs7 } from './certs-only';
