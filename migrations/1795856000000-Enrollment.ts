import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Enrollment over EST and SCEP. Each enrollment is a managed certificate (marked with the
 * protocol that created it: the device holds the key, so the renewal loop alerts but never
 * renews it) and a request row holding the device's CSR until its issuance job records a
 * version. The job is an ordinary Issuance/Renewal job: the approval gate, the retry loop
 * and the audit trail apply unchanged. A request is found again by the SCEP transactionID
 * (GetCertInitial, a resent PKCSReq) or by the CSR's public key (an EST client retrying
 * after 202).
 */
export class Enrollment1795856000000 implements MigrationInterface {
  name = 'Enrollment1795856000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE managed_certificates ADD COLUMN enrolled_via TEXT
                     CHECK (enrolled_via IN ('EST', 'SCEP'))`);
    await q.query(`
      CREATE TABLE enrollment_requests (
        id               TEXT PRIMARY KEY,
        protocol         TEXT NOT NULL CHECK (protocol IN ('EST', 'SCEP')),
        label            TEXT NOT NULL,
        certificate_id   TEXT NOT NULL REFERENCES managed_certificates (id) ON DELETE RESTRICT,
        job_id           TEXT NOT NULL REFERENCES jobs (id) ON DELETE RESTRICT,
        kind             TEXT NOT NULL CHECK (kind IN ('enroll', 'reenroll')),
        csr_pem          TEXT NOT NULL,
        spki_sha256      TEXT NOT NULL,
        transaction_id   TEXT,
        status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'issued', 'failed')),
        version_id       TEXT REFERENCES certificate_versions (id) ON DELETE RESTRICT,
        error            TEXT,
        requested_by     TEXT NOT NULL,
        source_ip        TEXT,
        created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
        CHECK (status <> 'issued' OR version_id IS NOT NULL)
      )
    `);
    await q.query(`CREATE UNIQUE INDEX enrollment_requests_job_idx ON enrollment_requests (job_id)`);
    // One request per SCEP transaction and label: a resent PKCSReq finds its request.
    await q.query(
      `CREATE UNIQUE INDEX enrollment_requests_txn_idx ON enrollment_requests (protocol, label, transaction_id)
        WHERE transaction_id IS NOT NULL`,
    );
    await q.query(`CREATE INDEX enrollment_requests_key_idx ON enrollment_requests (protocol, label, spki_sha256)`);
    await q.query(`CREATE INDEX enrollment_requests_cert_idx ON enrollment_requests (certificate_id)`);
    // Generated SCEP RA material, one row per label, shared by every replica: the first
    // replica to need it inserts (ON CONFLICT DO NOTHING) and everyone re-reads the winner.
    // The RSA key is sealed with the config encryption key (context scep_ra_keys:<label>).
    await q.query(`
      CREATE TABLE scep_ra_keys (
        label        TEXT PRIMARY KEY,
        cert_pem     TEXT NOT NULL,
        sealed_key   BYTEA NOT NULL,
        fingerprint_sha256 TEXT NOT NULL,
        issuer_ca_id TEXT,
        not_after    TIMESTAMPTZ NOT NULL,
        created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE scep_ra_keys`);
    await q.query(`DROP TABLE enrollment_requests`);
    await q.query(`ALTER TABLE managed_certificates DROP COLUMN enrolled_via`);
  }
}
