import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { isPermission, type ActorType, type Permission } from '@certctl/domain';

export interface KeyCredential {
  id: string;
  name: string;
  actorId: string;
  actorType: ActorType;
  keyHash: string;
  roles: string[];
  permissions: Permission[];
  lastUsedAt: Date | null;
}

export interface NewApiKey {
  id: string;
  name: string;
  actorId: string;
  actorType: ActorType;
  keyHash: string;
  keyPrefix: string;
  createdBy: string;
  expiresAt: Date | null;
}

/** SQL for credentials and role grants: the auth hot path is one indexed query. */
@Injectable()
export class AuthRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /** An active (unrevoked, unexpired) key by hash, with its actor's roles and permissions. */
  async findActiveKeyByHash(keyHash: string): Promise<KeyCredential | null> {
    const rows: {
      id: string;
      name: string;
      actor_id: string;
      actor_type: ActorType;
      key_hash: string;
      last_used_at: Date | null;
      roles: string[];
      permissions: string[];
    }[] = await this.ds.query(
      `SELECT k.id, k.name, k.actor_id, k.actor_type, k.key_hash, k.last_used_at,
              COALESCE(array_agg(DISTINCT r.name) FILTER (WHERE r.name IS NOT NULL), '{}') AS roles,
              COALESCE(array_agg(DISTINCT rp.permission) FILTER (WHERE rp.permission IS NOT NULL), '{}') AS permissions
         FROM api_keys k
         LEFT JOIN actor_roles ar ON ar.actor_id = k.actor_id
         LEFT JOIN roles r ON r.id = ar.role_id
         LEFT JOIN role_permissions rp ON rp.role_id = ar.role_id
        WHERE k.key_hash = $1
          AND k.revoked_at IS NULL
          AND (k.expires_at IS NULL OR k.expires_at > now())
        GROUP BY k.id`,
      [keyHash],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      id: r.id,
      name: r.name,
      actorId: r.actor_id,
      actorType: r.actor_type,
      keyHash: r.key_hash,
      lastUsedAt: r.last_used_at,
      roles: r.roles,
      permissions: r.permissions.filter(isPermission),
    };
  }

  /**
   * The agent a revoked key belonged to, when that agent has been retired: such callers
   * get 410 Gone (their signal to stop) instead of 401 (which they would retry forever).
   */
  async findRetiredAgentByKeyHash(keyHash: string): Promise<string | null> {
    const rows: { id: string }[] = await this.ds.query(
      `SELECT a.id FROM api_keys k JOIN agents a ON a.id = k.actor_id
        WHERE k.key_hash = $1 AND k.actor_type = 'Agent' AND a.retired_at IS NOT NULL`,
      [keyHash],
    );
    return rows[0]?.id ?? null;
  }

  /** Coarse last-use stamp: at most one write per key per minute. */
  async touchKey(id: string): Promise<void> {
    await this.ds.query(
      `UPDATE api_keys SET last_used_at = now()
        WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
      [id],
    );
  }

  /** Inserts a key and grants its actor the roles, in the caller's transaction. */
  async insertKeyWithRoles(m: EntityManager, key: NewApiKey, roleIds: string[], grantedBy: string): Promise<void> {
    await m.query(
      `INSERT INTO api_keys (id, name, actor_id, actor_type, key_hash, key_prefix, created_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [key.id, key.name, key.actorId, key.actorType, key.keyHash, key.keyPrefix, key.createdBy, key.expiresAt],
    );
    for (const roleId of roleIds) {
      await m.query(
        `INSERT INTO actor_roles (actor_id, role_id, created_by) VALUES ($1, $2, $3)
         ON CONFLICT (actor_id, role_id) DO NOTHING`,
        [key.actorId, roleId, grantedBy],
      );
    }
  }

  /**
   * Claims a one-time system marker (e.g. `bootstrap`). True for exactly one caller across
   * all replicas; false when it was claimed before.
   */
  async claimOnce(m: EntityManager, key: string, value: Record<string, unknown>): Promise<boolean> {
    const rows: unknown[] = await m.query(
      `INSERT INTO system_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING key`,
      [key, JSON.stringify(value)],
    );
    return rows.length === 1;
  }

  async isClaimed(key: string): Promise<boolean> {
    const rows: unknown[] = await this.ds.query(`SELECT 1 FROM system_state WHERE key = $1`, [key]);
    return rows.length === 1;
  }

  async countKeys(): Promise<number> {
    const rows: { n: string }[] = await this.ds.query(`SELECT count(*) AS n FROM api_keys`);
    return Number(rows[0]?.n ?? 0);
  }

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }
}
