export * from './pkcs12';
