export * from './eku';
export * from './parse-csr';
export * from './profile';
export * from './san';
export * from './tls-feature';
export * from './build-csr';
