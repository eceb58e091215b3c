import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The CRL an OpenSSL-script issuer's crl_script made (issue 11), as served at
 * /.well-known/pki/crl/<issuer id>. Such an issuer has no issuer_cas row (its CA lives
 * outside certctl), so it cannot share crl_cache. `generated_at` is when the run that made
 * `der` started; a revocation sets `invalidated_at`, and the row is stale while
 * invalidated_at >= generated_at (a run that started before the revocation script finished
 * cannot mark the CRL fresh).
 */
export class ScriptCrlCache1796806400000 implements MigrationInterface {
  name = 'ScriptCrlCache1796806400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE script_crl_cache (
        issuer_id      TEXT PRIMARY KEY REFERENCES issuers (id) ON DELETE CASCADE,
        der            BYTEA NOT NULL,
        etag           TEXT NOT NULL,
        crl_number     TEXT,
        this_update    TIMESTAMPTZ NOT NULL,
        next_update    TIMESTAMPTZ,
        generated_at   TIMESTAMPTZ NOT NULL,
        invalidated_at TIMESTAMPTZ
      )
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE script_crl_cache`);
  }
}
