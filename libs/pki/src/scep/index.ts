export * from './scep-message';
