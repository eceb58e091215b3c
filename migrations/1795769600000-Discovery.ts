import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Post-deployment verification results (the latest one per Deployment job) and certificate
 * discovery: one row per scan an agent reports, and the certificates found, deduplicated on
 * (fingerprint, agent, path) so a re-scan moves last_seen instead of adding rows.
 */
export class Discovery1795769600000 implements MigrationInterface {
  name = 'Discovery1795769600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE job_verifications (
        job_id               TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
        verified             BOOLEAN NOT NULL,
        expected_fingerprint TEXT NOT NULL,
        served_fingerprint   TEXT,
        endpoint             TEXT,
        error                TEXT,
        verified_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
        reported_by          TEXT NOT NULL,
        reported_by_type     TEXT NOT NULL,
        CHECK (NOT verified OR served_fingerprint = expected_fingerprint)
      )
    `);

    await q.query(`
      CREATE TABLE discovery_scans (
        id                 TEXT PRIMARY KEY,
        agent_id           TEXT NOT NULL REFERENCES agents (id) ON DELETE RESTRICT,
        source             TEXT NOT NULL DEFAULT 'filesystem' CHECK (source IN ('filesystem')),
        started_at         TIMESTAMPTZ NOT NULL,
        finished_at        TIMESTAMPTZ NOT NULL,
        directories        TEXT[] NOT NULL DEFAULT '{}',
        certificates_found INTEGER NOT NULL DEFAULT 0 CHECK (certificates_found >= 0),
        new_certificates   INTEGER NOT NULL DEFAULT 0 CHECK (new_certificates >= 0),
        error_count        INTEGER NOT NULL DEFAULT 0 CHECK (error_count >= 0),
        errors             JSONB NOT NULL DEFAULT '[]',
        reported_by        TEXT NOT NULL,
        created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
        CHECK (finished_at >= started_at)
      )
    `);
    await q.query(`CREATE INDEX discovery_scans_agent_started_idx ON discovery_scans (agent_id, started_at DESC)`);
    await q.query(`CREATE INDEX discovery_scans_created_at_id_idx ON discovery_scans (created_at, id)`);
    await q.query(`CREATE INDEX discovery_scans_started_at_id_idx ON discovery_scans (started_at, id)`);

    await q.query(`
      CREATE TABLE discovered_certificates (
        id                     TEXT PRIMARY KEY,
        agent_id               TEXT NOT NULL REFERENCES agents (id) ON DELETE RESTRICT,
        source_path            TEXT NOT NULL,
        source_format          TEXT NOT NULL DEFAULT 'pem' CHECK (source_format IN ('pem', 'der')),
        fingerprint_sha256     TEXT NOT NULL CHECK (fingerprint_sha256 ~ '^[0-9a-f]{64}$'),
        common_name            TEXT NOT NULL DEFAULT '',
        sans                   TEXT[] NOT NULL DEFAULT '{}',
        serial                 TEXT NOT NULL DEFAULT '',
        issuer_dn              TEXT NOT NULL DEFAULT '',
        subject_dn             TEXT NOT NULL DEFAULT '',
        not_before             TIMESTAMPTZ,
        not_after              TIMESTAMPTZ,
        key_algorithm          TEXT NOT NULL DEFAULT '',
        key_size               INTEGER,
        is_ca                  BOOLEAN NOT NULL DEFAULT false,
        status                 TEXT NOT NULL DEFAULT 'Unmanaged' CHECK (status IN ('Unmanaged', 'Managed', 'Dismissed')),
        managed_certificate_id TEXT REFERENCES managed_certificates (id) ON DELETE RESTRICT,
        first_seen             TIMESTAMPTZ NOT NULL DEFAULT now(),
        last_seen              TIMESTAMPTZ NOT NULL DEFAULT now(),
        last_scan_id           TEXT REFERENCES discovery_scans (id) ON DELETE SET NULL,
        created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
        CONSTRAINT discovered_certificates_dedup_key UNIQUE (fingerprint_sha256, agent_id, source_path),
        CHECK ((status = 'Managed') = (managed_certificate_id IS NOT NULL))
      )
    `);
    await q.query(`CREATE INDEX discovered_certificates_status_idx ON discovered_certificates (status, not_after)`);
    await q.query(`CREATE INDEX discovered_certificates_agent_idx ON discovered_certificates (agent_id, status)`);
    await q.query(`CREATE INDEX discovered_certificates_created_at_id_idx ON discovered_certificates (created_at, id)`);
    await q.query(`CREATE INDEX discovered_certificates_not_after_idx ON discovered_certificates (not_after, id)`);
    await q.query(
      `CREATE INDEX discovered_certificates_managed_idx ON discovered_certificates (managed_certificate_id)
         WHERE managed_certificate_id IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE discovered_certificates`);
    await q.query(`DROP TABLE discovery_scans`);
    await q.query(`DROP TABLE job_verifications`);
  }
}
