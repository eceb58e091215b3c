import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { conflict, type ActorType, type ListResult } from '@certctl/domain';
import { paginate } from '../database/paginate';
import { isUniqueViolation } from '../database/pg-errors';
import { ApiKeyEntity, RoleEntity } from './auth.entities';
import {
  API_KEY_FIELDS,
  ROLE_FIELDS,
  type ApiKeyDto,
  type ApiKeyListQueryDto,
  type RoleDto,
  type RoleListQueryDto,
} from './dto/rbac.dto';

/** The built-in role whose holders administer everything; the last active holder is protected. */
export const ADMIN_ROLE_ID = 'role-admin';

/** Serialises changes that could leave no active admin key (revocations, admin role removals). */
const ADMIN_INVARIANT_LOCK_KEY = 0x6164_6d6e; // "admn"

export interface RoleRecord {
  id: string;
  name: string;
  description: string;
  builtin: boolean;
  /** Sorted. */
  permissions: string[];
  createdAt: Date;
  updatedAt: Date;
}

export interface RoleRef {
  id: string;
  name: string;
}

export interface KeyRecord {
  id: string;
  name: string;
  actorId: string;
  actorType: ActorType;
  keyPrefix: string;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  /** The actor's roles, sorted by name. */
  roles: RoleRef[];
}

/** `FOR UPDATE` to change the row; `FOR KEY SHARE` to keep it from being deleted meanwhile. */
export type RowLock = 'update' | 'key share';

interface RoleRow {
  id: string;
  name: string;
  description: string;
  builtin: boolean;
  created_at: Date;
  updated_at: Date;
}

interface KeyRow {
  id: string;
  name: string;
  actor_id: string;
  actor_type: ActorType;
  key_prefix: string;
  created_by: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

/** Runs an UPDATE or DELETE and returns the number of rows it changed. */
async function affected(m: EntityManager, sql: string, params: unknown[]): Promise<number> {
  // For UPDATE and DELETE, TypeORM's Postgres driver answers [rows, rowCount].
  const [, count] = await m.query<[unknown[], number]>(sql, params);
  return count;
}

/** Postgres TEXT cannot hold NUL; such an id names nothing (and must not reach the driver). */
const storable = (s: string): boolean => !s.includes('\u0000');

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function roleDto(r: RoleRecord): RoleDto {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    builtin: r.builtin,
    permissions: r.permissions,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}

export function apiKeyDto(k: KeyRecord): ApiKeyDto {
  return {
    id: k.id,
    name: k.name,
    actor_id: k.actorId,
    actor_type: k.actorType,
    key_prefix: k.keyPrefix,
    roles: k.roles.map((r) => r.name),
    created_by: k.createdBy,
    created_at: k.createdAt.toISOString(),
    expires_at: iso(k.expiresAt),
    revoked_at: iso(k.revokedAt),
    last_used_at: iso(k.lastUsedAt),
  };
}

const lockClause = (lock?: RowLock): string =>
  lock === 'update' ? 'FOR UPDATE' : lock === 'key share' ? 'FOR KEY SHARE' : '';

/** Maps unique violations on roles to 409s that say which value clashed. */
function rethrowRoleConflict(e: unknown, role: { id?: string; name?: string }): never {
  if (isUniqueViolation(e, 'roles_pkey')) {
    throw conflict(`a role with id ${JSON.stringify(role.id)} already exists`);
  }
  if (isUniqueViolation(e, 'roles_name_key')) {
    throw conflict(`a role named ${JSON.stringify(role.name)} already exists`);
  }
  throw e;
}

/** SQL for role and API key administration. */
@Injectable()
export class RbacRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  // ------------------------------------------------------------ roles

  async listRoles(q: RoleListQueryDto): Promise<ListResult<Partial<RoleDto>>> {
    const qb = this.ds.getRepository(RoleEntity).createQueryBuilder('r');
    const page = await paginate(qb, q, {
      sortable: {
        created_at: 'r.created_at',
        updated_at: 'r.updated_at',
        name: { column: 'r.name', kind: 'text' },
      },
      defaultSort: 'created_at',
      fields: ROLE_FIELDS,
      toDto: (e: RoleEntity): RoleDto => roleDto({ ...e, permissions: [] }),
    });
    if (page.data.some((r) => 'permissions' in r)) {
      const perms = await this.permissionsOf(
        this.ds.manager,
        page.data.map((r) => r.id as string),
      );
      for (const r of page.data) if ('permissions' in r) r.permissions = perms.get(r.id as string) ?? [];
    }
    return page;
  }

  async findRole(id: string, m: EntityManager = this.ds.manager, lock?: RowLock): Promise<RoleRecord | null> {
    if (!storable(id)) return null;
    const rows: RoleRow[] = await m.query(
      `SELECT id, name, description, builtin, created_at, updated_at
         FROM roles
        WHERE id = $1
        ${lockClause(lock)}`,
      [id],
    );
    const row = rows[0];
    if (!row) return null;
    const perms = await this.permissionsOf(m, [row.id]);
    return this.toRoleRecord(row, perms.get(row.id) ?? []);
  }

  /**
   * Resolves role references (an id, or else a name) to roles. Returns the roles found,
   * in the order asked, and the references that matched nothing.
   */
  async resolveRoles(
    m: EntityManager,
    refs: string[],
    lock?: RowLock,
  ): Promise<{ roles: RoleRecord[]; unknown: string[] }> {
    const rows: RoleRow[] = await m.query(
      `SELECT id, name, description, builtin, created_at, updated_at
         FROM roles
        WHERE id = ANY($1::text[]) OR name = ANY($1::text[])
        ORDER BY id
        ${lockClause(lock)}`,
      [refs.filter(storable)],
    );
    const perms = await this.permissionsOf(
      m,
      rows.map((r) => r.id),
    );
    const roles: RoleRecord[] = [];
    const unknown: string[] = [];
    for (const ref of refs) {
      const row = rows.find((r) => r.id === ref) ?? rows.find((r) => r.name === ref);
      if (!row) unknown.push(ref);
      else if (!roles.some((r) => r.id === row.id)) roles.push(this.toRoleRecord(row, perms.get(row.id) ?? []));
    }
    return { roles, unknown };
  }

  async insertRole(
    m: EntityManager,
    role: { id: string; name: string; description: string },
    permissions: string[],
  ): Promise<void> {
    try {
      await m.query(`INSERT INTO roles (id, name, description, builtin) VALUES ($1, $2, $3, false)`, [
        role.id,
        role.name,
        role.description,
      ]);
    } catch (e) {
      rethrowRoleConflict(e, role);
    }
    await this.insertPermissions(m, role.id, permissions);
  }

  /** Updates the given columns (and updated_at). */
  async updateRole(m: EntityManager, id: string, change: { name?: string; description?: string }): Promise<void> {
    try {
      await m.query(
        `UPDATE roles
            SET name        = COALESCE($2, name),
                description = COALESCE($3, description),
                updated_at  = now()
          WHERE id = $1`,
        [id, change.name ?? null, change.description ?? null],
      );
    } catch (e) {
      rethrowRoleConflict(e, { id, name: change.name });
    }
  }

  /** Replaces the role's permission set. */
  async setRolePermissions(m: EntityManager, id: string, permissions: string[]): Promise<void> {
    await m.query(`DELETE FROM role_permissions WHERE role_id = $1`, [id]);
    await this.insertPermissions(m, id, permissions);
    await this.touchRole(m, id);
  }

  /** Adds permissions; returns those that were not there before. */
  async addRolePermissions(m: EntityManager, id: string, permissions: string[]): Promise<string[]> {
    const added = await this.insertPermissions(m, id, permissions);
    if (added.length) await this.touchRole(m, id);
    return added;
  }

  /** Removes one permission; false when the role did not have it. */
  async removeRolePermission(m: EntityManager, id: string, permission: string): Promise<boolean> {
    const n = await affected(m, `DELETE FROM role_permissions WHERE role_id = $1 AND permission = $2`, [
      id,
      permission,
    ]);
    if (n === 0) return false;
    await this.touchRole(m, id);
    return true;
  }

  /**
   * How many actors still hold the role. Grants left behind by API-key actors whose keys
   * are all revoked do not count: nobody can act with them any more.
   */
  async countLiveGrants(m: EntityManager, roleId: string): Promise<number> {
    const rows: { n: string }[] = await m.query(
      `SELECT count(*) AS n
         FROM actor_roles ar
        WHERE ar.role_id = $1
          AND NOT ${deadKeyActorSql('ar.actor_id')}`,
      [roleId],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Deletes the role, its permissions and the grants left on revoked keys' actors. */
  async deleteRole(m: EntityManager, roleId: string): Promise<number> {
    const released = await affected(
      m,
      `DELETE FROM actor_roles ar
        WHERE ar.role_id = $1
          AND ${deadKeyActorSql('ar.actor_id')}`,
      [roleId],
    );
    await m.query(`DELETE FROM roles WHERE id = $1`, [roleId]);
    return released;
  }

  // ------------------------------------------------------------ keys

  async listKeys(q: ApiKeyListQueryDto): Promise<ListResult<Partial<ApiKeyDto>>> {
    const qb = this.ds.getRepository(ApiKeyEntity).createQueryBuilder('k');
    if (!q.include_revoked) qb.andWhere('k.revoked_at IS NULL');
    const page = await paginate(qb, q, {
      sortable: {
        created_at: 'k.created_at',
        name: { column: 'k.name', kind: 'text' },
        expires_at: { column: 'k.expires_at', kind: 'timestamp', nullable: true },
        last_used_at: { column: 'k.last_used_at', kind: 'timestamp', nullable: true },
      },
      defaultSort: '-created_at',
      fields: API_KEY_FIELDS,
      toDto: (e: ApiKeyEntity): ApiKeyDto => apiKeyDto({ ...e, actorType: e.actorType as ActorType, roles: [] }),
    });
    if (page.data.some((k) => 'roles' in k)) {
      // Sparse fieldsets may have dropped actor_id; look the actors up by key id.
      const keyIds = page.data.map((k) => k.id as string);
      const rows: { key_id: string; id: string; name: string }[] = await this.ds.query(
        `SELECT k.id AS key_id, r.id, r.name
           FROM api_keys k
           JOIN actor_roles ar ON ar.actor_id = k.actor_id
           JOIN roles r ON r.id = ar.role_id
          WHERE k.id = ANY($1::text[])
          ORDER BY r.name COLLATE "C"`,
        [keyIds],
      );
      for (const k of page.data) {
        if ('roles' in k) k.roles = rows.filter((r) => r.key_id === k.id).map((r) => r.name);
      }
    }
    return page;
  }

  async findKey(id: string, m: EntityManager = this.ds.manager, lock?: RowLock): Promise<KeyRecord | null> {
    if (!storable(id)) return null;
    const rows: KeyRow[] = await m.query(
      `SELECT id, name, actor_id, actor_type, key_prefix, created_by,
              created_at, expires_at, revoked_at, last_used_at
         FROM api_keys
        WHERE id = $1
        ${lockClause(lock)}`,
      [id],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      id: row.id,
      name: row.name,
      actorId: row.actor_id,
      actorType: row.actor_type,
      keyPrefix: row.key_prefix,
      createdBy: row.created_by,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      revokedAt: row.revoked_at,
      lastUsedAt: row.last_used_at,
      roles: await this.actorRoles(m, row.actor_id),
    };
  }

  async actorRoles(m: EntityManager, actorId: string): Promise<RoleRef[]> {
    return m.query(
      `SELECT r.id, r.name
         FROM actor_roles ar
         JOIN roles r ON r.id = ar.role_id
        WHERE ar.actor_id = $1
        ORDER BY r.name COLLATE "C"`,
      [actorId],
    );
  }

  /** Marks the key revoked (the row stays for the record). */
  async revokeKey(m: EntityManager, id: string): Promise<void> {
    await m.query(`UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, [id]);
  }

  /** Grants a role to an actor; false when the actor already held it. */
  async grantRole(m: EntityManager, actorId: string, roleId: string, grantedBy: string): Promise<boolean> {
    const rows: unknown[] = await m.query(
      `INSERT INTO actor_roles (actor_id, role_id, created_by) VALUES ($1, $2, $3)
       ON CONFLICT (actor_id, role_id) DO NOTHING
       RETURNING role_id`,
      [actorId, roleId, grantedBy],
    );
    return rows.length === 1;
  }

  /** Takes a role from an actor; false when the actor did not hold it. */
  async revokeRole(m: EntityManager, actorId: string, roleId: string): Promise<boolean> {
    const n = await affected(m, `DELETE FROM actor_roles WHERE actor_id = $1 AND role_id = $2`, [actorId, roleId]);
    return n === 1;
  }

  /** Held for the rest of the transaction: one admin-affecting change at a time. */
  async lockAdminInvariant(m: EntityManager): Promise<void> {
    await m.query('SELECT pg_advisory_xact_lock($1)', [ADMIN_INVARIANT_LOCK_KEY]);
  }

  /**
   * Active (unrevoked, unexpired) keys whose actor holds the admin role, leaving out one
   * key or every key of one actor.
   */
  async countActiveAdminKeys(m: EntityManager, except: { keyId?: string; actorId?: string }): Promise<number> {
    const rows: { n: string }[] = await m.query(
      `SELECT count(*) AS n
         FROM api_keys k
         JOIN actor_roles ar ON ar.actor_id = k.actor_id AND ar.role_id = $1
        WHERE k.revoked_at IS NULL
          AND (k.expires_at IS NULL OR k.expires_at > now())
          AND k.id IS DISTINCT FROM $2
          AND k.actor_id IS DISTINCT FROM $3`,
      [ADMIN_ROLE_ID, except.keyId ?? null, except.actorId ?? null],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Whether the actor has an unrevoked, unexpired key. */
  async hasActiveKey(m: EntityManager, actorId: string): Promise<boolean> {
    const rows: unknown[] = await m.query(
      `SELECT 1
         FROM api_keys
        WHERE actor_id = $1
          AND revoked_at IS NULL
          AND (expires_at IS NULL OR expires_at > now())
        LIMIT 1`,
      [actorId],
    );
    return rows.length > 0;
  }

  // ------------------------------------------------------------ helpers

  private async permissionsOf(m: EntityManager, roleIds: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (roleIds.length === 0) return out;
    const rows: { role_id: string; permission: string }[] = await m.query(
      `SELECT role_id, permission
         FROM role_permissions
        WHERE role_id = ANY($1::text[])
        ORDER BY permission COLLATE "C"`,
      [roleIds],
    );
    for (const r of rows) out.set(r.role_id, [...(out.get(r.role_id) ?? []), r.permission]);
    return out;
  }

  /** Inserts permissions the role lacks; returns the ones inserted, sorted. */
  private async insertPermissions(m: EntityManager, roleId: string, permissions: string[]): Promise<string[]> {
    if (permissions.length === 0) return [];
    const rows: { permission: string }[] = await m.query(
      `INSERT INTO role_permissions (role_id, permission)
       SELECT $1, p FROM unnest($2::text[]) AS p
       ON CONFLICT (role_id, permission) DO NOTHING
       RETURNING permission`,
      [roleId, permissions],
    );
    return rows.map((r) => r.permission).sort();
  }

  private async touchRole(m: EntityManager, id: string): Promise<void> {
    await m.query(`UPDATE roles SET updated_at = now() WHERE id = $1`, [id]);
  }

  private toRoleRecord(row: RoleRow, permissions: string[]): RoleRecord {
    return {
      id: row.id,
      name: row.name,
      description: row.description,
      builtin: row.builtin,
      permissions,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }
}

/**
 * SQL predicate: the actor is an API-key actor none of whose keys is unrevoked (a grant
 * to such an actor can never be used again).
 */
function deadKeyActorSql(actorColumn: string): string {
  return `(EXISTS (SELECT 1 FROM api_keys k WHERE k.actor_id = ${actorColumn})
           AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.actor_id = ${actorColumn} AND k.revoked_at IS NULL))`;
}
