import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import {
  conflict,
  DomainError,
  ErrorCode,
  forbidden,
  IdPrefix,
  invalid,
  isPermission,
  newId,
  notFound,
  type ListResult,
  type Permission,
} from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import type { Principal } from '../http/request-context';
import { displayPrefix, generateApiKey, hashApiKey } from './api-key';
import { AuthRepository } from './auth.repository';
import type {
  ApiKeyDto,
  ApiKeyListQueryDto,
  CreateApiKeyDto,
  CreatedApiKeyDto,
  CreateRoleDto,
  RoleDto,
  RoleListQueryDto,
  UpdateRoleDto,
} from './dto/rbac.dto';
import { ADMIN_ROLE_ID, apiKeyDto, RbacRepository, roleDto, type KeyRecord, type RoleRecord } from './rbac.repository';

/**
 * Checks permission names against the catalogue: returns them de-duplicated and sorted,
 * or throws 400 naming every unknown one.
 */
export function catalogPermissions(names: string[], field: string): Permission[] {
  const unknown = [...new Set(names.filter((n) => !isPermission(n)))];
  if (unknown.length) {
    throw invalid(
      `${field}: unknown permission(s) ${unknown.map((u) => JSON.stringify(u)).join(', ')}; ` +
        'see GET /api/v1/auth/permissions',
      { unknown },
    );
  }
  return [...new Set(names as Permission[])].sort();
}

/** The permissions in `wanted` that `held` lacks, sorted. */
export function missingPermissions(held: ReadonlySet<string>, wanted: Iterable<string>): string[] {
  return [...new Set([...wanted].filter((p) => !held.has(p)))].sort();
}

/**
 * Privilege escalation guard: nobody hands out (to a key, or into a role) a permission
 * they do not hold themselves.
 */
function assertHeld(caller: Principal, wanted: Iterable<string>, what: string): void {
  const missing = missingPermissions(caller.permissions, wanted);
  if (missing.length) {
    throw forbidden(`${what} needs permissions you do not hold: ${missing.join(', ')}`);
  }
}

const isActive = (k: KeyRecord, now = Date.now()): boolean =>
  k.revokedAt === null && (k.expiresAt === null || k.expiresAt.getTime() > now);

const LAST_ADMIN =
  'this would leave no active API key with the admin role, and nobody could administer certctl; ' +
  'create or grant another admin key first';

/** Role and API key administration. Every change and its audit row share one transaction. */
@Injectable()
export class RbacService {
  constructor(
    private readonly repo: RbacRepository,
    private readonly auth: AuthRepository,
    private readonly audit: AuditRepository,
  ) {}

  // ------------------------------------------------------------ roles

  listRoles(q: RoleListQueryDto): Promise<ListResult<Partial<RoleDto>>> {
    return this.repo.listRoles(q);
  }

  async getRole(id: string): Promise<RoleDto> {
    const role = await this.repo.findRole(id);
    if (!role) throw notFound('role', id);
    return roleDto(role);
  }

  async createRole(caller: Principal, body: CreateRoleDto): Promise<RoleDto> {
    const permissions = catalogPermissions(body.permissions, 'body.permissions');
    assertHeld(caller, permissions, 'creating this role');
    const id = body.id ?? newId(IdPrefix.Role);
    const description = body.description ?? '';
    return this.repo.transaction(async (m) => {
      await this.repo.insertRole(m, { id, name: body.name, description }, permissions);
      await this.record(m, caller, 'role_created', 'role', id, { name: body.name, description, permissions });
      return roleDto(await this.mustFindRole(m, id));
    });
  }

  async updateRole(caller: Principal, id: string, body: UpdateRoleDto): Promise<RoleDto> {
    if (body.name === undefined && body.description === undefined && body.permissions === undefined) {
      throw invalid('body: give at least one of name, description, permissions');
    }
    const permissions =
      body.permissions === undefined ? undefined : catalogPermissions(body.permissions, 'body.permissions');
    return this.repo.transaction(async (m) => {
      const role = await this.lockEditableRole(m, id);
      if (role.builtin && body.name !== undefined && body.name !== role.name) {
        throw conflict(`built-in role ${JSON.stringify(role.name)} cannot be renamed; certctl refers to it by name`);
      }
      const changes: Record<string, unknown> = {};
      if (body.name !== undefined && body.name !== role.name) changes.name = { from: role.name, to: body.name };
      if (body.description !== undefined && body.description !== role.description) {
        changes.description = { from: role.description, to: body.description };
      }
      if (permissions) {
        const added = permissions.filter((p) => !role.permissions.includes(p));
        const removed = role.permissions.filter((p) => !permissions.includes(p as Permission));
        assertHeld(caller, added, `adding ${added.join(', ')} to role ${JSON.stringify(role.name)}`);
        if (added.length || removed.length) changes.permissions = { added, removed };
      }
      if (Object.keys(changes).length === 0) return roleDto(role);

      if (changes.name || changes.description) {
        await this.repo.updateRole(m, id, { name: body.name, description: body.description });
      }
      if (permissions && changes.permissions) await this.repo.setRolePermissions(m, id, permissions);
      await this.record(m, caller, 'role_updated', 'role', id, { name: body.name ?? role.name, changes });
      return roleDto(await this.mustFindRole(m, id));
    });
  }

  async deleteRole(caller: Principal, id: string): Promise<void> {
    await this.repo.transaction(async (m) => {
      const role = await this.repo.findRole(id, m, 'update');
      if (!role) throw notFound('role', id);
      if (role.builtin) throw conflict(`built-in role ${JSON.stringify(role.name)} cannot be deleted`);
      const actors = await this.repo.countLiveGrants(m, id);
      if (actors > 0) {
        throw conflict(
          `role ${JSON.stringify(role.name)} is still granted to ${actors} actor${actors === 1 ? '' : 's'}; ` +
            'revoke it from them before deleting it',
          { actors },
        );
      }
      const released = await this.repo.deleteRole(m, id);
      await this.record(m, caller, 'role_deleted', 'role', id, {
        name: role.name,
        permissions: role.permissions,
        released_revoked_key_grants: released,
      });
    });
  }

  async addRolePermissions(caller: Principal, id: string, names: string[]): Promise<RoleDto> {
    const permissions = catalogPermissions(names, 'body.permissions');
    return this.repo.transaction(async (m) => {
      const role = await this.lockEditableRole(m, id);
      const wanted = permissions.filter((p) => !role.permissions.includes(p));
      assertHeld(caller, wanted, `adding ${wanted.join(', ')} to role ${JSON.stringify(role.name)}`);
      const added = await this.repo.addRolePermissions(m, id, wanted);
      if (added.length === 0) return roleDto(role);
      await this.record(m, caller, 'role_updated', 'role', id, {
        name: role.name,
        changes: { permissions: { added, removed: [] } },
      });
      return roleDto(await this.mustFindRole(m, id));
    });
  }

  async removeRolePermission(caller: Principal, id: string, permission: string): Promise<RoleDto> {
    if (!isPermission(permission)) {
      throw invalid(`param.perm: unknown permission ${JSON.stringify(permission)}; see GET /api/v1/auth/permissions`);
    }
    return this.repo.transaction(async (m) => {
      const role = await this.lockEditableRole(m, id);
      if (!(await this.repo.removeRolePermission(m, id, permission))) {
        throw new DomainError(
          ErrorCode.NotFound,
          `role ${JSON.stringify(role.name)} does not have permission ${JSON.stringify(permission)}`,
        );
      }
      await this.record(m, caller, 'role_updated', 'role', id, {
        name: role.name,
        changes: { permissions: { added: [], removed: [permission] } },
      });
      return roleDto(await this.mustFindRole(m, id));
    });
  }

  // ------------------------------------------------------------ keys

  listKeys(q: ApiKeyListQueryDto): Promise<ListResult<Partial<ApiKeyDto>>> {
    return this.repo.listKeys(q);
  }

  async createKey(caller: Principal, body: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    let expiresAt: Date | null = null;
    if (body.expires_at !== undefined) {
      expiresAt = new Date(body.expires_at);
      if (Number.isNaN(expiresAt.getTime())) throw invalid('body.expires_at: not a valid date-time');
      if (expiresAt.getTime() <= Date.now()) throw invalid('body.expires_at: must be in the future');
    }
    const refs = [...new Set(body.roles)];
    return this.repo.transaction(async (m) => {
      const { roles, unknown } = await this.repo.resolveRoles(m, refs, 'key share');
      if (unknown.length) {
        throw invalid(`body.roles: unknown role(s) ${unknown.map((u) => JSON.stringify(u)).join(', ')}`, { unknown });
      }
      assertHeld(
        caller,
        roles.flatMap((r) => r.permissions),
        `creating a key with role(s) ${roles.map((r) => r.name).join(', ')}`,
      );
      const key = generateApiKey();
      const id = newId(IdPrefix.ApiKey);
      await this.auth.insertKeyWithRoles(
        m,
        {
          id,
          name: body.name,
          actorId: id,
          actorType: 'ApiKey',
          keyHash: hashApiKey(key),
          keyPrefix: displayPrefix(key),
          createdBy: caller.actorId,
          expiresAt,
        },
        roles.map((r) => r.id),
        caller.actorId,
      );
      const created = await this.mustFindKey(m, id);
      await this.record(m, caller, 'api_key_created', 'api_key', id, {
        name: created.name,
        actor_id: created.actorId,
        key_prefix: created.keyPrefix,
        roles: created.roles.map((r) => r.name),
        expires_at: created.expiresAt?.toISOString() ?? null,
      });
      return { ...apiKeyDto(created), key };
    });
  }

  async revokeKey(caller: Principal, id: string): Promise<void> {
    await this.repo.transaction(async (m) => {
      await this.repo.lockAdminInvariant(m);
      const key = await this.repo.findKey(id, m, 'update');
      if (!key) throw notFound('API key', id);
      if (key.revokedAt) return; // already revoked: nothing to do
      if (isActive(key) && key.roles.some((r) => r.id === ADMIN_ROLE_ID)) {
        if ((await this.repo.countActiveAdminKeys(m, { keyId: id })) === 0) {
          throw conflict(`API key ${JSON.stringify(id)} is the last active admin key: ${LAST_ADMIN}`);
        }
      }
      await this.repo.revokeKey(m, id);
      await this.record(m, caller, 'api_key_revoked', 'api_key', id, {
        name: key.name,
        actor_id: key.actorId,
        key_prefix: key.keyPrefix,
      });
    });
  }

  async rotateKey(caller: Principal, id: string): Promise<CreatedApiKeyDto> {
    return this.repo.transaction(async (m) => {
      const old = await this.repo.findKey(id, m, 'update');
      if (!old) throw notFound('API key', id);
      if (old.revokedAt) throw conflict(`API key ${JSON.stringify(id)} is revoked; create a new key instead`);
      if (!isActive(old)) throw conflict(`API key ${JSON.stringify(id)} has expired; create a new key instead`);
      // The new secret carries the actor's roles: rotating is as powerful as minting them.
      const { roles } = await this.repo.resolveRoles(
        m,
        old.roles.map((r) => r.id),
      );
      assertHeld(
        caller,
        roles.flatMap((r) => r.permissions),
        `rotating a key with role(s) ${roles.map((r) => r.name).join(', ')}`,
      );
      const key = generateApiKey();
      const newKeyId = newId(IdPrefix.ApiKey);
      await this.auth.insertKeyWithRoles(
        m,
        {
          id: newKeyId,
          name: old.name,
          actorId: old.actorId,
          actorType: old.actorType,
          keyHash: hashApiKey(key),
          keyPrefix: displayPrefix(key),
          createdBy: caller.actorId,
          expiresAt: old.expiresAt,
        },
        [],
        caller.actorId,
      );
      await this.repo.revokeKey(m, id);
      const created = await this.mustFindKey(m, newKeyId);
      await this.record(m, caller, 'api_key_rotated', 'api_key', id, {
        name: old.name,
        actor_id: old.actorId,
        old_key_prefix: old.keyPrefix,
        new_key_id: newKeyId,
        new_key_prefix: created.keyPrefix,
      });
      return { ...apiKeyDto(created), key };
    });
  }

  async grantRole(caller: Principal, keyId: string, roleRef: string): Promise<ApiKeyDto> {
    return this.repo.transaction(async (m) => {
      const key = await this.repo.findKey(keyId, m, 'key share');
      if (!key) throw notFound('API key', keyId);
      if (key.revokedAt) throw conflict(`API key ${JSON.stringify(keyId)} is revoked`);
      const role = await this.resolveRole(m, roleRef);
      assertHeld(caller, role.permissions, `granting role ${JSON.stringify(role.name)}`);
      if (!(await this.repo.grantRole(m, key.actorId, role.id, caller.actorId))) return apiKeyDto(key);
      await this.record(m, caller, 'role_granted', 'api_key', keyId, {
        actor_id: key.actorId,
        role_id: role.id,
        role_name: role.name,
      });
      return apiKeyDto(await this.mustFindKey(m, keyId));
    });
  }

  async revokeRole(caller: Principal, keyId: string, roleRef: string): Promise<ApiKeyDto> {
    return this.repo.transaction(async (m) => {
      await this.repo.lockAdminInvariant(m);
      const key = await this.repo.findKey(keyId, m, 'key share');
      if (!key) throw notFound('API key', keyId);
      const role = await this.resolveRole(m, roleRef);
      if (!key.roles.some((r) => r.id === role.id)) {
        throw new DomainError(
          ErrorCode.NotFound,
          `API key ${JSON.stringify(keyId)} does not hold role ${JSON.stringify(role.name)}`,
        );
      }
      if (
        role.id === ADMIN_ROLE_ID &&
        (await this.repo.hasActiveKey(m, key.actorId)) &&
        (await this.repo.countActiveAdminKeys(m, { actorId: key.actorId })) === 0
      ) {
        throw conflict(`API key ${JSON.stringify(keyId)} belongs to the last active admin: ${LAST_ADMIN}`);
      }
      await this.repo.revokeRole(m, key.actorId, role.id);
      await this.record(m, caller, 'role_revoked', 'api_key', keyId, {
        actor_id: key.actorId,
        role_id: role.id,
        role_name: role.name,
      });
      return apiKeyDto(await this.mustFindKey(m, keyId));
    });
  }

  // ------------------------------------------------------------ helpers

  /** The role, locked for change; 404 when missing, 409 for the admin role. */
  private async lockEditableRole(m: EntityManager, id: string): Promise<RoleRecord> {
    const role = await this.repo.findRole(id, m, 'update');
    if (!role) throw notFound('role', id);
    if (role.id === ADMIN_ROLE_ID) {
      throw conflict(
        'the built-in admin role cannot be modified: it always holds every permission so that ' +
          'an administrator can never be locked out',
      );
    }
    return role;
  }

  private async resolveRole(m: EntityManager, ref: string): Promise<RoleRecord> {
    const { roles } = await this.repo.resolveRoles(m, [ref], 'key share');
    const role = roles[0];
    if (!role) throw notFound('role', ref);
    return role;
  }

  private async mustFindRole(m: EntityManager, id: string): Promise<RoleRecord> {
    const role = await this.repo.findRole(id, m);
    if (!role) throw new Error(`role ${id} vanished inside its own transaction`);
    return role;
  }

  private async mustFindKey(m: EntityManager, id: string): Promise<KeyRecord> {
    const key = await this.repo.findKey(id, m);
    if (!key) throw new Error(`API key ${id} vanished inside its own transaction`);
    return key;
  }

  private record(
    m: EntityManager,
    caller: Principal,
    action: string,
    resourceType: 'role' | 'api_key',
    resourceId: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    return this.audit.recordDomain(m, caller, action, resourceType, resourceId, details);
  }
}
