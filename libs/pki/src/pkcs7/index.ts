export { certsOnlyPkcs7 } from './certs-only';
