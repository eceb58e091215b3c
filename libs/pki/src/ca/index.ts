export * from './ca-signer';
export * from './create-ca';
export * from './load-ca';
export * from './name-constraints';
export * from './pki-urls';
export * from './validate-path';
