import { Global, Injectable, Module, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/config.schema';
import { acmeEabKeyContext } from '../acme/acme-eab';
import { acmeAccountContext } from '../issuers/acme/acme-account.store';
import { ocspResponderKeyContext } from '../pki-endpoints/ocsp-responder.store';
import { sealContextOf } from '../scep/scep-ra.service';
import { SecretBox, SecretDecryptError, SecretKeyMissingError } from './secret-box';

/** Tables whose rows carry a sealed `secret_config`; the row is `<table>:<id>` context. */
export const SEALED_TABLES = ['issuers', 'deployment_targets'] as const;

export function sealContext(table: (typeof SEALED_TABLES)[number], id: string): string {
  return `${table}:${id}`;
}

/** A column holding SecretBox blobs, and how a row's seal context is made from its columns. */
export interface SealedColumn {
  table: string;
  column: string;
  /** The columns the context is made of (selected beside the blob). */
  keys: readonly string[];
  context: (row: Record<string, string>) => string;
}

/**
 * Every column of sealed data. The contexts call the functions the writers use (lazily: some
 * of their modules import this one).
 */
export const SEALED_COLUMNS: readonly SealedColumn[] = [
  { table: 'issuers', column: 'secret_config', keys: ['id'], context: (r) => sealContext('issuers', r.id) },
  {
    table: 'deployment_targets',
    column: 'secret_config',
    keys: ['id'],
    context: (r) => sealContext('deployment_targets', r.id),
  },
  { table: 'issuer_cas', column: 'sealed_key', keys: ['id'], context: (r) => caKeyContext(r.id) },
  { table: 'ocsp_responders', column: 'sealed_key', keys: ['id'], context: (r) => ocspResponderKeyContext(r.id) },
  { table: 'scep_ra_keys', column: 'sealed_key', keys: ['label'], context: (r) => sealContextOf(r.label) },
  { table: 'acme_eab_keys', column: 'sealed_key', keys: ['kid'], context: (r) => acmeEabKeyContext(r.kid) },
  {
    table: 'acme_client_accounts',
    column: 'sealed_key',
    keys: ['issuer_id', 'directory_url'],
    context: (r) => acmeAccountContext(r.issuer_id, r.directory_url),
  },
  {
    table: 'certificate_versions',
    column: 'sealed_private_key',
    keys: ['id'],
    context: (r) => versionKeyContext(r.id),
  },
  // An asynchronous CA's order keeps the server-generated key sealed to its future version.
  {
    table: 'issuer_orders',
    column: 'sealed_private_key',
    keys: ['version_id'],
    context: (r) => versionKeyContext(r.version_id),
  },
];

/**
 * Fail closed at boot: sealed data without a passphrase, or a passphrase that does not open
 * it, stops the server instead of surfacing later as broken issuers, CAs, responders or
 * exports. Every blob is sealed with the one CERTCTL_CONFIG_ENCRYPTION_KEY, so the first
 * sealed row found proves or disproves the key: one open per boot (PBKDF2 makes each open
 * deliberately slow, and every replica and test app boots through here).
 */
@Injectable()
export class SealedSecretsBootCheck implements OnApplicationBootstrap {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly box: SecretBox,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    for (const sealed of SEALED_COLUMNS) {
      // Any row will do: no ORDER BY, so Postgres stops at the first sealed one it reads.
      const rows: (Record<string, string> & { sealed: Buffer })[] = await this.ds.query(
        `SELECT ${sealed.keys.join(', ')}, ${sealed.column} AS sealed FROM ${sealed.table}
          WHERE ${sealed.column} IS NOT NULL LIMIT 1`,
      );
      const row = rows[0];
      if (!row) continue;
      const where = `${sealed.table}.${sealed.column}`;
      const context = sealed.context(row);
      if (!this.box.enabled) throw new SecretKeyMissingError(`existing sealed data in ${where} (${context})`);
      try {
        await this.box.open(row.sealed, context);
      } catch (e) {
        if (e instanceof SecretDecryptError) throw new SecretDecryptError(`${where} (${context})`, e.reason);
        throw e;
      }
      return;
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
