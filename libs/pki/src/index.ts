export * from './crypto-provider';
export * from './tls-bundle';
