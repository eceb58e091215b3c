import { DomainError, ErrorCode } from '@certctl/domain';
import { catalogPermissions, missingPermissions } from './rbac.service';

describe('RBAC permission helpers', () => {
  it('de-duplicates and sorts catalogue permissions', () => {
    expect(catalogPermissions(['cert.read', 'audit.read', 'cert.read'], 'body.permissions')).toEqual([
      'audit.read',
      'cert.read',
    ]);
    expect(catalogPermissions([], 'body.permissions')).toEqual([]);
  });

  it('rejects unknown names with a validation error naming the field and every unknown one', () => {
    let err: unknown;
    try {
      catalogPermissions(['cert.read', 'cert.fly', 'x', 'x'], 'body.permissions');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe(ErrorCode.Validation);
    expect((err as DomainError).message).toMatch(/^body\.permissions: unknown permission\(s\) "cert\.fly", "x";/);
    expect((err as DomainError).details).toEqual({ unknown: ['cert.fly', 'x'] });
  });

  it('reports the wanted permissions the holder lacks, once each and sorted', () => {
    const held = new Set(['cert.read', 'cert.issue']);
    expect(missingPermissions(held, ['cert.issue', 'cert.read'])).toEqual([]);
    expect(missingPermissions(held, ['team.edit', 'cert.read', 'audit.export', 'team.edit'])).toEqual([
      'audit.export',
      'team.edit',
    ]);
    expect(missingPermissions(new Set(), [])).toEqual([]);
  });
});
