// Connector configuration: per-type schemas (issuers, targets), secret fields, sealing.
export * from './connector';
export * from './config/spec';
export * from './config/sealed-config';
export { secretRegistry } from './config/fields';
export * from './issuers/issuer-configs';
export * from './issuers/local-ca';
export * from './issuers/issuer-port';
export * from './issuers/local-ca-connector';
export * from './issuers/registry';
export * from './issuers/acme';
export * from './targets/target-configs';
export * from './targets/registry';
export * from './targets/target-port';
export * from './discovery/filesystem';
export * from './notifiers';
