import { Injectable, Logger } from '@nestjs/common';
import { BuiltinRole, gone, IdPrefix, newId, unauthenticated, type ActorType, type Permission } from '@certctl/domain';
import { AppConfig } from '../config/config.schema';
import type { Principal } from '../http/request-context';
import { bearerToken, digestsEqual, displayPrefix, generateApiKey, hashApiKey } from './api-key';
import { AuthRepository } from './auth.repository';

const BOOTSTRAP_MARKER = 'bootstrap';
const BOOTSTRAP_LOCK_KEY = 0x626f_6f74; // "boot"

export interface MintedKey {
  id: string;
  name: string;
  actor_id: string;
  actor_type: ActorType;
  roles: string[];
  /** The secret, shown exactly once. */
  key: string;
  created_at: string;
}

@Injectable()
export class AuthService {
  private readonly logger = new Logger(AuthService.name);
  private readonly bootstrapTokenHash?: string;

  constructor(
    private readonly repo: AuthRepository,
    config: AppConfig,
  ) {
    this.bootstrapTokenHash = config.bootstrapToken ? hashApiKey(config.bootstrapToken) : undefined;
  }

  /** Resolves an Authorization header to a principal, or throws 401. */
  async authenticate(authorization: string | undefined): Promise<Principal> {
    const token = bearerToken(authorization);
    if (!token) throw unauthenticated('missing credential: send Authorization: Bearer <api key>');
    const hash = hashApiKey(token);
    const key = await this.repo.findActiveKeyByHash(hash);
    // The lookup is by hash; the constant-time compare keeps the decision itself uniform.
    if (!key || !digestsEqual(key.keyHash, hash)) {
      const retired = await this.repo.findRetiredAgentByKeyHash(hash);
      if (retired) throw gone(`agent ${retired} has been retired; this agent should stop`);
      throw unauthenticated('invalid, revoked or expired API key');
    }
    if (!key.lastUsedAt || Date.now() - key.lastUsedAt.getTime() > 60_000) {
      this.repo.touchKey(key.id).catch((e: Error) => this.logger.warn(`last_used_at update failed: ${e.message}`));
    }
    return {
      actorId: key.actorId,
      actorType: key.actorType,
      keyId: key.id,
      keyName: key.name,
      roles: key.roles,
      permissions: new Set(key.permissions),
    };
  }

  /** The day-0 credential: only valid while CERTCTL_BOOTSTRAP_TOKEN is set. */
  authenticateBootstrap(authorization: string | undefined): Principal {
    const token = bearerToken(authorization);
    if (!token) throw unauthenticated('missing credential: send Authorization: Bearer <bootstrap token>');
    if (!this.bootstrapTokenHash) {
      throw unauthenticated('bootstrap is not enabled on this server (CERTCTL_BOOTSTRAP_TOKEN is unset)');
    }
    if (!digestsEqual(this.bootstrapTokenHash, hashApiKey(token))) throw unauthenticated('invalid bootstrap token');
    const permissions = new Set<Permission>(['auth.bootstrap.use']);
    return { actorId: 'bootstrap', actorType: 'System', roles: [], permissions };
  }

  async bootstrapAvailable(): Promise<boolean> {
    return !(await this.repo.isClaimed(BOOTSTRAP_MARKER));
  }

  /** Mints the first admin key with the bootstrap token; 410 once done. */
  async consumeBootstrap(name: string | undefined): Promise<MintedKey> {
    const minted = await this.repo.transaction(async (m) => {
      await m.query('SELECT pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK_KEY]);
      if (!(await this.repo.claimOnce(m, BOOTSTRAP_MARKER, { method: 'token', at: new Date().toISOString() }))) {
        return null;
      }
      return this.mintAdminKey(m, name ?? 'bootstrap-admin', 'bootstrap');
    });
    if (!minted) throw gone('bootstrap has already been used; create further keys with an admin key');
    return minted;
  }

  /**
   * On a fresh database without a bootstrap token, mint one admin key so `npm start`
   * gives a usable credential. Runs once across replicas and restarts.
   */
  async mintInitialAdminKeyIfFresh(): Promise<MintedKey | null> {
    if (this.bootstrapTokenHash) return null;
    return this.repo.transaction(async (m) => {
      await m.query('SELECT pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK_KEY]);
      const rows: { n: string }[] = await m.query('SELECT count(*) AS n FROM api_keys');
      if (Number(rows[0]?.n) > 0) return null;
      if (!(await this.repo.claimOnce(m, BOOTSTRAP_MARKER, { method: 'startup', at: new Date().toISOString() }))) {
        return null;
      }
      return this.mintAdminKey(m, 'initial-admin', 'system');
    });
  }

  private async mintAdminKey(
    m: Parameters<Parameters<AuthRepository['transaction']>[0]>[0],
    name: string,
    createdBy: string,
  ): Promise<MintedKey> {
    const key = generateApiKey();
    const id = newId(IdPrefix.ApiKey);
    await this.repo.insertKeyWithRoles(
      m,
      {
        id,
        name,
        actorId: id,
        actorType: 'ApiKey',
        keyHash: hashApiKey(key),
        keyPrefix: displayPrefix(key),
        createdBy,
        expiresAt: null,
      },
      [`role-${BuiltinRole.Admin}`],
      createdBy,
    );
    return {
      id,
      name,
      actor_id: id,
      actor_type: 'ApiKey',
      roles: [BuiltinRole.Admin],
      key,
      created_at: new Date().toISOString(),
    };
  }
}
