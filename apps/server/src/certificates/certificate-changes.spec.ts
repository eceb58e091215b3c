import { certificateChanges } from './certificate-changes';
import type { CertificateRow } from './certificates.repository';

const before: CertificateRow & { target_ids: string[] } = {
  name: 'api',
  common_name: 'api.example.com',
  sans: ['api.example.com', 'www.example.com'],
  environment: 'prod',
  owner_id: 'o-1',
  team_id: null,
  issuer_id: 'iss-1',
  renewal_policy_id: null,
  profile_id: null,
  agent_id: null,
  tags: { a: '1', b: '2' },
  target_ids: ['t-1', 't-2'],
};

describe('certificateChanges', () => {
  it('finds nothing to do when every given value equals the stored one', () => {
    const r = certificateChanges(before, {
      name: 'api',
      sans: ['api.example.com', 'www.example.com'],
      tags: { b: '2', a: '1' },
      target_ids: ['t-2', 't-1'],
      team_id: null,
      owner_id: 'o-1',
    });
    expect(r).toEqual({ patch: {}, targetIds: undefined, changes: {} });
  });

  it('reports changed columns with from/to, clears references set to null', () => {
    const r = certificateChanges(before, {
      name: 'api2',
      owner_id: null,
      team_id: 'team-x',
      sans: ['www.example.com', 'api.example.com'],
    });
    expect(r.patch).toEqual({
      name: 'api2',
      owner_id: null,
      team_id: 'team-x',
      sans: ['www.example.com', 'api.example.com'],
    });
    expect(r.changes.owner_id).toEqual({ from: 'o-1', to: null });
    expect(r.changes.sans).toEqual({ from: before.sans, to: ['www.example.com', 'api.example.com'] });
    expect(r.targetIds).toBeUndefined();
  });

  it('replaces tags and the target set as wholes', () => {
    const r = certificateChanges(before, { tags: { a: '1' }, target_ids: ['t-3'] });
    expect(r.patch).toEqual({ tags: { a: '1' } });
    expect(r.targetIds).toEqual(['t-3']);
    expect(Object.keys(r.changes).sort()).toEqual(['tags', 'target_ids']);
    expect(certificateChanges(before, { tags: { a: '1', c: '2' } }).patch.tags).toEqual({ a: '1', c: '2' });
  });
});
