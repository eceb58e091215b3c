/**
 * The RBAC permission catalogue (certctl's 82 names). Routes declare one of these; roles
 * are sets of them. Adding a permission here and in a migration is the whole change.
 */
export const PERMISSIONS = [
  'agent.edit',
  'agent.heartbeat',
  'agent.job.complete',
  'agent.job.poll',
  'agent.job.report',
  'agent.read',
  'agent.retire',
  'approval.approve',
  'approval.read',
  'approval.reject',
  'audit.export',
  'audit.read',
  'auth.bootstrap.use',
  'auth.breakglass.admin',
  'auth.breakglass.login',
  'auth.key.create',
  'auth.key.delete',
  'auth.key.list',
  'auth.key.rotate',
  'auth.oidc.create',
  'auth.oidc.delete',
  'auth.oidc.edit',
  'auth.oidc.list',
  'auth.role.assign',
  'auth.role.create',
  'auth.role.delete',
  'auth.role.edit',
  'auth.role.list',
  'auth.role.revoke',
  'auth.session.list',
  'auth.session.list.all',
  'auth.session.revoke',
  'auth.user.deactivate',
  'auth.user.read',
  'ca.hierarchy.manage',
  'cert.bulk_revoke',
  'cert.delete',
  'cert.edit',
  'cert.issue',
  'cert.read',
  'cert.revoke',
  'crl.admin',
  'digest.read',
  'digest.send',
  'discovery.claim',
  'discovery.read',
  'discovery.run',
  'est.admin',
  'healthcheck.acknowledge',
  'healthcheck.delete',
  'healthcheck.edit',
  'healthcheck.read',
  'issuer.delete',
  'issuer.edit',
  'issuer.read',
  'job.cancel',
  'job.read',
  'metrics.read',
  'network_scan.edit',
  'network_scan.read',
  'network_scan.run',
  'notification.edit',
  'notification.read',
  'owner.delete',
  'owner.edit',
  'owner.read',
  'policy.delete',
  'policy.edit',
  'policy.read',
  'profile.delete',
  'profile.edit',
  'profile.read',
  'scep.admin',
  'stats.read',
  'target.delete',
  'target.edit',
  'target.read',
  'team.delete',
  'team.edit',
  'team.read',
  'verification.read',
  'verification.run',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const PERMISSION_SET: ReadonlySet<string> = new Set(PERMISSIONS);
export function isPermission(value: string): value is Permission {
  return PERMISSION_SET.has(value);
}

/** Device: an EST or SCEP client, authenticated by its enrollment credential. */
export type ActorType = 'User' | 'ApiKey' | 'Agent' | 'System' | 'Anonymous' | 'Device';

export const BuiltinRole = {
  Admin: 'admin',
  Operator: 'operator',
  Viewer: 'viewer',
  Agent: 'agent',
  Mcp: 'mcp',
  Cli: 'cli',
  Auditor: 'auditor',
} as const;
export type BuiltinRole = (typeof BuiltinRole)[keyof typeof BuiltinRole];

const READ_ONLY = PERMISSIONS.filter((p) => /\.(read|list)$/.test(p) && !p.startsWith('auth.'));

/** Identity and access administration (the auditor may list keys and roles, nothing more). */
const AUTH_ADMIN = PERMISSIONS.filter((p) => p.startsWith('auth.'));

/** Day-to-day certificate operations: everything except identity admin and break-glass. */
const OPERATOR = PERMISSIONS.filter(
  (p) => !AUTH_ADMIN.includes(p) && p !== 'audit.export' && p !== 'ca.hierarchy.manage',
);

/** The default permission sets of the built-in roles (seeded by migration; editable later). */
export const BUILTIN_ROLE_PERMISSIONS: Record<BuiltinRole, readonly Permission[]> = {
  admin: PERMISSIONS,
  operator: OPERATOR,
  viewer: READ_ONLY,
  agent: [
    'agent.heartbeat',
    'agent.job.poll',
    'agent.job.report',
    'agent.job.complete',
    'agent.read',
    'discovery.run',
    'verification.run',
  ],
  // The MCP app and the CLI act for a human operator; they get the operator set, and an
  // admin narrows them per deployment.
  mcp: OPERATOR,
  cli: OPERATOR,
  auditor: [...new Set<Permission>([...READ_ONLY, 'audit.read', 'audit.export', 'auth.key.list', 'auth.role.list'])],
};
