export * from './profile-rules';
export * from './policy-rules';
