export * from './issue-leaf';
