import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * ACME Renewal Information (RFC 9773) per certificate (issue 11): the CA's suggested window
 * for the current version, the time picked at random inside it (stored, so every replica
 * renews at the same moment) and when the CA may be asked again (its Retry-After).
 * `version_id` ties the row to the version it was asked for: a renewed certificate asks again.
 */
export class CertificateRenewalInfo1796720000000 implements MigrationInterface {
  name = 'CertificateRenewalInfo1796720000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE certificate_renewal_info (
        certificate_id  TEXT PRIMARY KEY REFERENCES managed_certificates (id) ON DELETE CASCADE,
        version_id      TEXT NOT NULL,
        window_start    TIMESTAMPTZ,
        window_end      TIMESTAMPTZ,
        renew_at        TIMESTAMPTZ,
        explanation_url TEXT,
        next_poll_at    TIMESTAMPTZ NOT NULL,
        last_error      TEXT,
        updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
        CONSTRAINT certificate_renewal_info_window_chk
          CHECK ((window_start IS NULL) = (window_end IS NULL) AND (renew_at IS NULL OR window_start IS NOT NULL))
      )
    `);
    await q.query(
      `CREATE INDEX certificate_renewal_info_renew_at_idx ON certificate_renewal_info (renew_at) WHERE renew_at IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE certificate_renewal_info`);
  }
}
