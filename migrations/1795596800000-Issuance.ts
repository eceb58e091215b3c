import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issuance: the CA certificates of each issuer (a Local CA's root and the intermediates
 * below it, or the sub-CA loaded from files), what each certificate version was signed
 * by, the CRL and OCSP caches, and the dedup key that makes renewal alerts fire once per
 * certificate and threshold.
 */
export class Issuance1795596800000 implements MigrationInterface {
  name = 'Issuance1795596800000';

  async up(q: QueryRunner): Promise<void> {
    // A CA of an issuer. parent_id NULL is the issuer's top CA (self-signed root, or the
    // externally signed sub-CA). Keys are sealed with the config encryption key; a CA whose
    // key lives in files (sub-CA mode) has no sealed key.
    await q.query(`
      CREATE TABLE issuer_cas (
        id                  TEXT PRIMARY KEY,
        issuer_id           TEXT NOT NULL REFERENCES issuers (id) ON DELETE RESTRICT,
        parent_id           TEXT REFERENCES issuer_cas (id) ON DELETE RESTRICT,
        name                TEXT NOT NULL DEFAULT '',
        source              TEXT NOT NULL CHECK (source IN ('generated', 'external')),
        state               TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'draining', 'retired')),
        subject             TEXT NOT NULL,
        serial_number       TEXT NOT NULL,
        fingerprint_sha256  TEXT NOT NULL,
        cert_pem            TEXT NOT NULL,
        key_algorithm       TEXT NOT NULL,
        path_len_constraint INTEGER,
        sealed_key          BYTEA,
        not_before          TIMESTAMPTZ NOT NULL,
        not_after           TIMESTAMPTZ NOT NULL,
        retired_at          TIMESTAMPTZ,
        created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
        CHECK ((source = 'generated') = (sealed_key IS NOT NULL)),
        CHECK ((state = 'retired') = (retired_at IS NOT NULL))
      )
    `);
    // One generated root per issuer; a sub-CA loaded from files is registered once per
    // certificate (a replaced file adds a row: the old CA stays for what it signed).
    await q.query(
      `CREATE UNIQUE INDEX issuer_cas_one_root_idx ON issuer_cas (issuer_id) WHERE parent_id IS NULL AND source = 'generated'`,
    );
    await q.query(
      `CREATE UNIQUE INDEX issuer_cas_external_idx ON issuer_cas (issuer_id, fingerprint_sha256) WHERE source = 'external'`,
    );
    await q.query(`CREATE INDEX issuer_cas_issuer_idx ON issuer_cas (issuer_id, created_at, id)`);
    await q.query(`CREATE INDEX issuer_cas_parent_idx ON issuer_cas (parent_id)`);

    await q.query(`
      ALTER TABLE certificate_versions
        ADD COLUMN issuer_id          TEXT REFERENCES issuers (id) ON DELETE RESTRICT,
        ADD COLUMN ca_id              TEXT REFERENCES issuer_cas (id) ON DELETE RESTRICT,
        ADD COLUMN job_id             TEXT REFERENCES jobs (id) ON DELETE RESTRICT,
        ADD COLUMN sealed_private_key BYTEA
    `);
    await q.query(`CREATE INDEX certificate_versions_ca_idx ON certificate_versions (ca_id, not_after)`);
    // One version per job: a replayed or raced job cannot record two certificates.
    await q.query(`CREATE UNIQUE INDEX certificate_versions_job_idx ON certificate_versions (job_id)`);

    await q.query(`
      CREATE TABLE crl_cache (
        ca_id       TEXT PRIMARY KEY REFERENCES issuer_cas (id) ON DELETE RESTRICT,
        crl_number  BIGINT NOT NULL,
        der         BYTEA NOT NULL,
        this_update TIMESTAMPTZ NOT NULL,
        next_update TIMESTAMPTZ NOT NULL,
        etag        TEXT NOT NULL,
        stale       BOOLEAN NOT NULL DEFAULT false,
        updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`
      CREATE TABLE ocsp_responses (
        ca_id         TEXT NOT NULL REFERENCES issuer_cas (id) ON DELETE RESTRICT,
        serial_number TEXT NOT NULL,
        -- How the request named the certificate (CertID hash and its parameters): the
        -- response echoes it, so each form has its own pre-signed response.
        cert_id_form  TEXT NOT NULL DEFAULT 'sha1',
        der           BYTEA NOT NULL,
        this_update   TIMESTAMPTZ NOT NULL,
        next_update   TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (ca_id, serial_number, cert_id_form)
      )
    `);
    // OCSP and CRL answers find the revocation of a version by its id.
    await q.query(
      `CREATE INDEX certificate_revocations_version_idx ON certificate_revocations (version_id) WHERE version_id IS NOT NULL`,
    );
    // The delegated OCSP signer of each CA (id-kp-OCSPSigning + ocsp-nocheck), rotated
    // before it expires; its key is sealed like the CA's.
    await q.query(`
      CREATE TABLE ocsp_responders (
        id         TEXT PRIMARY KEY,
        ca_id      TEXT NOT NULL REFERENCES issuer_cas (id) ON DELETE RESTRICT,
        cert_pem   TEXT NOT NULL,
        sealed_key BYTEA NOT NULL,
        not_before TIMESTAMPTZ NOT NULL,
        not_after  TIMESTAMPTZ NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`CREATE INDEX ocsp_responders_ca_idx ON ocsp_responders (ca_id, not_after)`);

    // The version a Deployment job deploys, pinned when its agent claims it (Pending ->
    // Running), so what was deployed where stays on record.
    await q.query(
      `ALTER TABLE jobs ADD COLUMN version_id TEXT REFERENCES certificate_versions (id) ON DELETE RESTRICT`,
    );

    // At most one open issuance/renewal per certificate: a second request finds the first.
    await q.query(
      `CREATE UNIQUE INDEX jobs_one_open_issuance_idx ON jobs (certificate_id)
         WHERE type IN ('Issuance', 'Renewal') AND status IN ('Pending', 'AwaitingCSR', 'AwaitingApproval', 'Running')`,
    );
    // At most one open deployment per certificate and target.
    await q.query(
      `CREATE UNIQUE INDEX jobs_one_open_deployment_idx ON jobs (certificate_id, target_id)
         WHERE type = 'Deployment' AND status IN ('Pending', 'AwaitingApproval', 'Running')`,
    );

    await q.query(`ALTER TABLE notification_events ADD COLUMN dedup_key TEXT`);
    await q.query(
      `CREATE UNIQUE INDEX notification_events_dedup_idx ON notification_events (dedup_key) WHERE dedup_key IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX notification_events_dedup_idx`);
    await q.query(`ALTER TABLE notification_events DROP COLUMN dedup_key`);
    await q.query(`DROP INDEX jobs_one_open_deployment_idx`);
    await q.query(`DROP INDEX jobs_one_open_issuance_idx`);
    await q.query(`ALTER TABLE jobs DROP COLUMN version_id`);
    await q.query(`DROP TABLE ocsp_responders`);
    await q.query(`DROP INDEX certificate_revocations_version_idx`);
    await q.query(`DROP TABLE ocsp_responses`);
    await q.query(`DROP TABLE crl_cache`);
    await q.query(`
      ALTER TABLE certificate_versions
        DROP COLUMN sealed_private_key, DROP COLUMN job_id, DROP COLUMN ca_id, DROP COLUMN issuer_id
    `);
    await q.query(`DROP TABLE issuer_cas`);
  }
}
