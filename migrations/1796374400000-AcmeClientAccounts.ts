import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * ACME issuer accounts (issue 11): one account key per issuer and directory, sealed with
 * CERTCTL_CONFIG_ENCRYPTION_KEY (context `acme_client_accounts:<issuer>:<directory>`), so
 * every replica signs as the same account. account_url is set once the CA registered it.
 */
export class AcmeClientAccounts1796374400000 implements MigrationInterface {
  name = 'AcmeClientAccounts1796374400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE acme_client_accounts (
        issuer_id     TEXT NOT NULL REFERENCES issuers(id) ON DELETE CASCADE,
        directory_url TEXT NOT NULL,
        sealed_key    BYTEA NOT NULL,
        account_url   TEXT,
        created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (issuer_id, directory_url)
      )
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE acme_client_accounts`);
  }
}
