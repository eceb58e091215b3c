import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { DomainError, ErrorCode, newId } from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import type { Principal } from '../http/request-context';
import { rowsOf } from '../database/sql';
import { acmeEabKeyContext } from '../secrets/seal-contexts';
import { SecretBox } from '../secrets/secret-box';

export interface CreatedEabKey {
  kid: string;
  /** base64url HMAC key: shown once, stored sealed. */
  hmacKey: string;
  createdAt: Date;
}

/**
 * External Account Binding keys (RFC 8555 7.3.4). The HMAC key must be usable again to
 * verify a binding, so it is sealed (SecretBox, the config encryption key) rather than
 * hashed; it is spent by the first account that binds with it.
 */
@Injectable()
export class AcmeEabKeys {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly box: SecretBox,
    private readonly audit: AuditRepository,
  ) {}

  async create(actor: Principal, description: string): Promise<CreatedEabKey> {
    if (!this.box.enabled) {
      throw new DomainError(
        ErrorCode.Unavailable,
        'EAB keys are sealed with the config encryption key: set CERTCTL_CONFIG_ENCRYPTION_KEY first',
      );
    }
    const kid = newId('eab');
    const hmacKey = randomBytes(32).toString('base64url');
    const sealed = await this.box.seal({ hmac_key: hmacKey }, acmeEabKeyContext(kid));
    const created = await this.audit.transaction(async (m) => {
      const row = rowsOf<{ created_at: Date }>(
        await m.query(
          `INSERT INTO acme_eab_keys (kid, sealed_key, description, created_by) VALUES ($1, $2, $3, $4) RETURNING created_at`,
          [kid, sealed, description, actor.actorId],
        ),
      )[0];
      await this.audit.recordDomain(m, actor, 'acme_eab_key_created', 'acme_eab_key', kid, { description });
      return row.created_at;
    });
    return { kid, hmacKey, createdAt: new Date(created) };
  }

  /** The HMAC key of an unused key id (undefined when unknown or spent). */
  async hmacKey(m: EntityManager, kid: string): Promise<Uint8Array | undefined> {
    const row = rowsOf<{ sealed_key: Buffer }>(
      await m.query(`SELECT sealed_key FROM acme_eab_keys WHERE kid = $1 AND used_at IS NULL`, [kid]),
    )[0];
    if (!row) return undefined;
    const opened = await this.box.open(row.sealed_key, acmeEabKeyContext(kid));
    return Buffer.from(String(opened.hmac_key), 'base64url');
  }

  /** Marks the key used by `accountId`; false when another account spent it first. */
  async spend(m: EntityManager, kid: string, accountId: string): Promise<boolean> {
    const rows = rowsOf<{ kid: string }>(
      await m.query(
        `UPDATE acme_eab_keys SET used_by = $2, used_at = now() WHERE kid = $1 AND used_at IS NULL RETURNING kid`,
        [kid, accountId],
      ),
    );
    return rows.length === 1;
  }
}
