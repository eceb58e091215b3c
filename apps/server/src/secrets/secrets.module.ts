import { Global, Injectable, Module, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/config.schema';
import { SEALED_COLUMNS } from './seal-contexts';
import { SecretBox, SecretDecryptError, SecretKeyMissingError } from './secret-box';

export { SEALED_COLUMNS, type SealedColumn } from './seal-contexts';

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
