export * from './errors/domain-error';
export * from './ids/ids';
export * from './queues/queues';
export * from './auth/permissions';
export * from './lists/list';
export * from './inventory/enums';
export * from './policy';
export * from './jobs/job-state';
