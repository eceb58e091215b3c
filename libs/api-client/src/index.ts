// The typed certctl REST client: types generated from docs/openapi.json (`npm run sdk`).
export type { paths, components, operations } from './schema';
export * from './client';
export * from './errors';
export * from './connection';
export * from './version';
