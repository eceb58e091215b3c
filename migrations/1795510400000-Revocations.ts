import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Revocations, one row per revoked serial of an issuer: the source of CRLs and OCSP
 * answers. Kept separate from the certificate's status so a certificate renewed after a
 * revocation still lists its revoked predecessors.
 */
export class Revocations1795510400000 implements MigrationInterface {
  name = 'Revocations1795510400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE certificate_revocations (
        id              TEXT PRIMARY KEY,
        certificate_id  TEXT NOT NULL REFERENCES managed_certificates (id) ON DELETE RESTRICT,
        version_id      TEXT REFERENCES certificate_versions (id) ON DELETE RESTRICT,
        issuer_id       TEXT REFERENCES issuers (id) ON DELETE RESTRICT,
        serial_number   TEXT NOT NULL,
        reason          TEXT NOT NULL,
        reason_code     SMALLINT NOT NULL CHECK (reason_code BETWEEN 0 AND 10 AND reason_code <> 7),
        revoked_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
        invalidity_date TIMESTAMPTZ,
        revoked_by      TEXT NOT NULL,
        issuer_notified BOOLEAN NOT NULL DEFAULT false,
        created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    // One revocation per serial of an issuer (NULL issuer: one per serial overall).
    await q.query(
      `CREATE UNIQUE INDEX certificate_revocations_serial_idx
         ON certificate_revocations (COALESCE(issuer_id, ''), serial_number)`,
    );
    await q.query(`CREATE INDEX certificate_revocations_issuer_idx ON certificate_revocations (issuer_id, revoked_at)`);
    await q.query(`CREATE INDEX certificate_revocations_certificate_idx ON certificate_revocations (certificate_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE certificate_revocations`);
  }
}
