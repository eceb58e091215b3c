import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { AcmeAccountKey, AcmeAccountStore } from '@certctl/connectors';
import { rowsOf } from '../../database/sql';
import { acmeAccountContext } from '../../secrets/seal-contexts';
import { SecretBox } from '../../secrets/secret-box';


interface AccountRow {
  sealed_key: Buffer;
  account_url: string | null;
}

/**
 * ACME accounts in Postgres: the key sealed with CERTCTL_CONFIG_ENCRYPTION_KEY, so every
 * replica signs as the same account and a database dump does not leak it.
 */
@Injectable()
export class PgAcmeAccountStore implements AcmeAccountStore {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly box: SecretBox,
  ) {}

  async load(issuerId: string, directoryUrl: string, newKeyPem: () => Promise<string>): Promise<AcmeAccountKey> {
    const existing = await this.row(issuerId, directoryUrl);
    if (existing) return this.open(issuerId, directoryUrl, existing);
    const context = acmeAccountContext(issuerId, directoryUrl);
    const sealed = await this.box.seal({ private_key_pem: await newKeyPem() }, context);
    // A replica that stored its key first wins; everyone then reads that one.
    await this.ds.query(
      `INSERT INTO acme_client_accounts (issuer_id, directory_url, sealed_key) VALUES ($1, $2, $3)
       ON CONFLICT (issuer_id, directory_url) DO NOTHING`,
      [issuerId, directoryUrl, sealed],
    );
    const stored = await this.row(issuerId, directoryUrl);
    if (!stored) throw new Error(`ACME account of issuer ${issuerId} vanished while it was created`);
    return this.open(issuerId, directoryUrl, stored);
  }

  async saveAccountUrl(issuerId: string, directoryUrl: string, accountUrl: string): Promise<void> {
    await this.ds.query(
      `UPDATE acme_client_accounts SET account_url = $3, updated_at = now()
        WHERE issuer_id = $1 AND directory_url = $2`,
      [issuerId, directoryUrl, accountUrl],
    );
  }

  private async row(issuerId: string, directoryUrl: string): Promise<AccountRow | undefined> {
    return rowsOf<AccountRow>(
      await this.ds.query(
        `SELECT sealed_key, account_url FROM acme_client_accounts WHERE issuer_id = $1 AND directory_url = $2`,
        [issuerId, directoryUrl],
      ),
    )[0];
  }

  private async open(issuerId: string, directoryUrl: string, row: AccountRow): Promise<AcmeAccountKey> {
    const secret = await this.box.open(row.sealed_key, acmeAccountContext(issuerId, directoryUrl));
    const pem = secret.private_key_pem;
    if (typeof pem !== 'string') throw new Error(`ACME account of issuer ${issuerId}: sealed key has no PEM`);
    return { privateKeyPem: pem, accountUrl: row.account_url ?? undefined };
  }
}
