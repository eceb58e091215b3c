import type { ProfileEntity } from './profile.entity';
import {
  editApprovalPolicy,
  effectiveChanges,
  fromEditPayload,
  isEditGated,
  toEditPayload,
  type ProfilePatch,
} from './profile-edit';

const profile = (over: Partial<ProfileEntity> = {}): ProfileEntity => ({
  id: 'prof-x',
  name: 'x',
  description: '',
  allowedKeyAlgorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
  maxTtlSeconds: 86_400,
  allowedEkus: ['serverAuth'],
  sanRules: { permitted_dns_patterns: [], allow_ip: false, allow_email: false, allow_uri: false, max_sans: null },
  mustStaple: false,
  requiresApproval: false,
  requiredApprovals: 1,
  approverRoles: [],
  acmeAuthMode: null,
  acmeEabRequired: null,
  createdAt: new Date(0),
  updatedAt: new Date(0),
  ...over,
});

describe('profile edit gate rules', () => {
  it('gates flip off, keep on and flip on; nothing else', () => {
    expect(isEditGated(profile({ requiresApproval: true }), { requiresApproval: false })).toBe(true);
    expect(isEditGated(profile({ requiresApproval: true }), { description: 'd' })).toBe(true);
    expect(isEditGated(profile(), { requiresApproval: true })).toBe(true);
    expect(isEditGated(profile(), { requiresApproval: false, description: 'd' })).toBe(false);
  });

  it('counts only real changes, whatever order jsonb keeps object keys in', () => {
    // jsonb hands keys back shortest first: {min_size, algorithm}
    const before = profile({ allowedKeyAlgorithms: JSON.parse('[{"min_size":256,"algorithm":"ECDSA"}]') });
    const patch: ProfilePatch = {
      allowedKeyAlgorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
      description: 'new',
      allowedEkus: ['serverAuth'],
      requiresApproval: false,
    };
    expect(effectiveChanges(before, patch)).toEqual({ description: 'new' });
    expect(effectiveChanges(before, { allowedEkus: ['clientAuth', 'serverAuth'] })).toEqual({
      allowedEkus: ['clientAuth', 'serverAuth'],
    });
  });

  it('decides under the stricter policy of current and proposed', () => {
    const p = (n: number, roles: string[], gated = true) =>
      profile({ requiresApproval: gated, requiredApprovals: n, approverRoles: roles });
    expect(editApprovalPolicy(p(3, []), { requiredApprovals: 1 })).toEqual({
      required_approvals: 3,
      approver_roles: [],
    });
    expect(editApprovalPolicy(p(1, [], false), { requiresApproval: true, requiredApprovals: 4 })).toEqual({
      required_approvals: 4,
      approver_roles: [],
    });
    expect(editApprovalPolicy(p(1, ['role-a']), { approverRoles: [] }).approver_roles).toEqual(['role-a']);
    expect(editApprovalPolicy(p(1, []), { approverRoles: ['role-b'] }).approver_roles).toEqual(['role-b']);
    expect(
      editApprovalPolicy(p(1, ['role-a', 'role-b']), { approverRoles: ['role-b', 'role-c'] }).approver_roles,
    ).toEqual(['role-b']);
    expect(editApprovalPolicy(p(1, ['role-a']), { approverRoles: ['role-c'] }).approver_roles).toEqual(['role-a']);
  });

  it('round-trips the changes through the payload and refuses a payload it did not write', () => {
    const before = profile({ description: 'old', requiresApproval: true });
    const changes: ProfilePatch = { description: 'new', requiresApproval: false, approverRoles: ['role-a'] };
    const payload = toEditPayload(before, changes);
    expect(payload).toEqual({
      changes: { description: 'new', requires_approval: false, approver_roles: ['role-a'] },
      previous: { description: 'old', requires_approval: true, approver_roles: [] },
    });
    expect(fromEditPayload(JSON.parse(JSON.stringify(payload)))).toEqual(changes);
    expect(() => fromEditPayload(null)).toThrow(/no changes/);
    expect(() => fromEditPayload({ changes: { id: 'prof-other' } })).toThrow(/unexpected change "id"/);
    expect(() => fromEditPayload({ changes: { name: null } })).toThrow(/unexpected change "name"/);
    // The ACME overrides are nullable: null puts the profile back on the server default.
    expect(fromEditPayload({ changes: { acme_auth_mode: null, acme_eab_required: false } })).toEqual({
      acmeAuthMode: null,
      acmeEabRequired: false,
    });
  });
});
