import { Global, Injectable, Module, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/config.schema';
import { SecretBox, SecretKeyMissingError } from './secret-box';

/** Tables whose rows carry a sealed `secret_config`; the row is `<table>:<id>` context. */
export const SEALED_TABLES = ['issuers', 'deployment_targets'] as const;

export function sealContext(table: (typeof SEALED_TABLES)[number], id: string): string {
  return `${table}:${id}`;
}

/**
 * Fail closed at boot: sealed rows without a passphrase, or a passphrase that does not
 * open them, stop the server instead of surfacing later as broken issuers and targets.
 */
@Injectable()
export class SealedSecretsBootCheck implements OnApplicationBootstrap {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly box: SecretBox,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    for (const table of SEALED_TABLES) {
      const rows: { id: string; secret_config: Buffer }[] = await this.ds.query(
        `SELECT id, secret_config FROM ${table} WHERE secret_config IS NOT NULL ORDER BY created_at LIMIT 1`,
      );
      const row = rows[0];
      if (!row) continue;
      if (!this.box.enabled) throw new SecretKeyMissingError(`existing ${table} row ${row.id}`);
      await this.box.open(row.secret_config, sealContext(table, row.id));
    }
  }
}

@Global()
@Module({
  providers: [
    { provide: SecretBox, inject: [AppConfig], useFactory: (c: AppConfig) => new SecretBox(c.configEncryptionKey) },
    SealedSecretsBootCheck,
  ],
  exports: [SecretBox],
})
export class SecretsModule {}

/**
 * Seal context of a server-generated private key (`certificate_versions.sealed_private_key`,
 * CERTCTL_KEYGEN_MODE=server only). The sealed object is `{ private_key_pem: string }`.
 */
export function versionKeyContext(versionId: string): string {
  return `certificate_versions:${versionId}`;
}

/** Seal context of a CA key (`issuer_cas.sealed_key`); the sealed object is `{ private_key_pem: string }`. */
export function caKeyContext(caId: string): string {
  return `issuer_cas:${caId}`;
}
