// The approval workflow (two-person integrity, M-of-N, expiry, bypass) as a Nest module.
export * from './ports';
export * from './approval.repository';
export * from './approval-workflow';
export * from './approval.module';
