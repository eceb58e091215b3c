export * from './keys';
export * from './pem';
export * from './signing';
