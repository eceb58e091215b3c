import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The inventory: teams and owners, issuers and targets (secrets sealed at rest), agents and
 * agent groups, profiles, renewal policies, policy rules and violations, managed
 * certificates with versions and target mappings, jobs, notifications.
 *
 * Foreign keys RESTRICT deletion of anything still referenced (the API answers 409);
 * agents and targets are soft-retired, certificates archived, never hard-deleted.
 */
export class Inventory1795424000000 implements MigrationInterface {
  name = 'Inventory1795424000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE teams (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`CREATE INDEX teams_created_at_id_idx ON teams (created_at, id)`);

    await q.query(`
      CREATE TABLE owners (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        email      TEXT NOT NULL,
        team_id    TEXT REFERENCES teams (id) ON DELETE RESTRICT,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`CREATE UNIQUE INDEX owners_email_idx ON owners (lower(email))`);
    await q.query(`CREATE INDEX owners_team_id_idx ON owners (team_id)`);
    await q.query(`CREATE INDEX owners_created_at_id_idx ON owners (created_at, id)`);

    // config holds the non-secret settings; secret_config the sealed secret fields
    // (AES-256-GCM, per-blob PBKDF2 salt), never returned by the API; secret_fields names
    // the secrets inside the blob, so responses can show them as set without opening it.
    await q.query(`
      CREATE TABLE issuers (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL UNIQUE,
        type          TEXT NOT NULL,
        config        JSONB NOT NULL DEFAULT '{}'::jsonb,
        secret_config BYTEA,
        secret_fields TEXT[] NOT NULL DEFAULT '{}',
        enabled       BOOLEAN NOT NULL DEFAULT true,
        created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        CHECK ((secret_config IS NULL) = (cardinality(secret_fields) = 0))
      )
    `);
    await q.query(`CREATE INDEX issuers_created_at_id_idx ON issuers (created_at, id)`);

    await q.query(`
      CREATE TABLE agents (
        id                TEXT PRIMARY KEY,
        name              TEXT NOT NULL,
        hostname          TEXT NOT NULL DEFAULT '',
        status            TEXT NOT NULL DEFAULT 'Offline' CHECK (status IN ('Online', 'Offline', 'Degraded')),
        os                VARCHAR(64) NOT NULL DEFAULT '',
        architecture      VARCHAR(64) NOT NULL DEFAULT '',
        ip_address        VARCHAR(64) NOT NULL DEFAULT ''
                            CHECK (CASE WHEN ip_address = '' THEN true ELSE ip_address::inet IS NOT NULL END),
        version           VARCHAR(64) NOT NULL DEFAULT '',
        api_key_id        TEXT REFERENCES api_keys (id) ON DELETE SET NULL,
        last_heartbeat_at TIMESTAMPTZ,
        retired_at        TIMESTAMPTZ,
        retired_reason    TEXT,
        created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`CREATE UNIQUE INDEX agents_active_name_idx ON agents (name) WHERE retired_at IS NULL`);
    await q.query(`CREATE INDEX agents_created_at_id_idx ON agents (created_at, id)`);

    await q.query(`
      CREATE TABLE deployment_targets (
        id             TEXT PRIMARY KEY,
        name           TEXT NOT NULL,
        type           TEXT NOT NULL,
        agent_id       TEXT REFERENCES agents (id) ON DELETE RESTRICT,
        config         JSONB NOT NULL DEFAULT '{}'::jsonb,
        secret_config  BYTEA,
        secret_fields  TEXT[] NOT NULL DEFAULT '{}',
        enabled        BOOLEAN NOT NULL DEFAULT true,
        retired_at     TIMESTAMPTZ,
        retired_reason TEXT,
        created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
        CHECK ((secret_config IS NULL) = (cardinality(secret_fields) = 0))
      )
    `);
    // One live target of a name per agent ("nginx" on many hosts is fine).
    await q.query(
      `CREATE UNIQUE INDEX deployment_targets_agent_name_idx ON deployment_targets (agent_id, name) WHERE retired_at IS NULL`,
    );
    await q.query(`CREATE INDEX deployment_targets_agent_id_idx ON deployment_targets (agent_id)`);
    await q.query(`CREATE INDEX deployment_targets_created_at_id_idx ON deployment_targets (created_at, id)`);

    await q.query(`
      CREATE TABLE agent_groups (
        id             TEXT PRIMARY KEY,
        name           TEXT NOT NULL UNIQUE,
        description    TEXT NOT NULL DEFAULT '',
        match_criteria JSONB NOT NULL DEFAULT '{}'::jsonb,
        enabled        BOOLEAN NOT NULL DEFAULT true,
        created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`CREATE INDEX agent_groups_created_at_id_idx ON agent_groups (created_at, id)`);
    await q.query(`
      CREATE TABLE agent_group_members (
        agent_group_id  TEXT NOT NULL REFERENCES agent_groups (id) ON DELETE CASCADE,
        agent_id        TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
        membership_type TEXT NOT NULL CHECK (membership_type IN ('include', 'exclude')),
        created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (agent_group_id, agent_id)
      )
    `);

    await q.query(`
      CREATE TABLE certificate_profiles (
        id                     TEXT PRIMARY KEY,
        name                   TEXT NOT NULL UNIQUE,
        description            TEXT NOT NULL DEFAULT '',
        allowed_key_algorithms JSONB NOT NULL DEFAULT '[]'::jsonb,
        max_ttl_seconds        INTEGER NOT NULL CHECK (max_ttl_seconds > 0),
        allowed_ekus           TEXT[] NOT NULL DEFAULT '{}',
        san_rules              JSONB NOT NULL DEFAULT '{}'::jsonb,
        must_staple            BOOLEAN NOT NULL DEFAULT false,
        requires_approval      BOOLEAN NOT NULL DEFAULT false,
        created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at             TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`CREATE INDEX certificate_profiles_created_at_id_idx ON certificate_profiles (created_at, id)`);

    await q.query(`
      CREATE TABLE renewal_policies (
        id                    TEXT PRIMARY KEY,
        name                  TEXT NOT NULL UNIQUE,
        renewal_days_before   INTEGER NOT NULL DEFAULT 30 CHECK (renewal_days_before >= 0),
        alert_thresholds_days INTEGER[] NOT NULL DEFAULT '{30,14,7,0}',
        auto_renew            BOOLEAN NOT NULL DEFAULT true,
        agent_group_id        TEXT REFERENCES agent_groups (id) ON DELETE RESTRICT,
        created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`CREATE INDEX renewal_policies_created_at_id_idx ON renewal_policies (created_at, id)`);

    await q.query(`
      CREATE TABLE policy_rules (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        type       TEXT NOT NULL,
        config     JSONB NOT NULL DEFAULT '{}'::jsonb,
        severity   TEXT NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'critical')),
        enabled    BOOLEAN NOT NULL DEFAULT true,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`CREATE INDEX policy_rules_created_at_id_idx ON policy_rules (created_at, id)`);

    await q.query(`
      CREATE TABLE managed_certificates (
        id                TEXT PRIMARY KEY,
        name              TEXT NOT NULL,
        common_name       TEXT NOT NULL,
        sans              TEXT[] NOT NULL DEFAULT '{}',
        environment       TEXT NOT NULL DEFAULT '',
        owner_id          TEXT REFERENCES owners (id) ON DELETE RESTRICT,
        team_id           TEXT REFERENCES teams (id) ON DELETE RESTRICT,
        issuer_id         TEXT REFERENCES issuers (id) ON DELETE RESTRICT,
        renewal_policy_id TEXT REFERENCES renewal_policies (id) ON DELETE RESTRICT,
        profile_id        TEXT REFERENCES certificate_profiles (id) ON DELETE RESTRICT,
        agent_id          TEXT REFERENCES agents (id) ON DELETE RESTRICT,
        status            TEXT NOT NULL DEFAULT 'Pending',
        expires_at        TIMESTAMPTZ,
        tags              JSONB NOT NULL DEFAULT '{}'::jsonb,
        archived_at       TIMESTAMPTZ,
        created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    // Keyset pages and the common filters; expiry ordering is the hot path at 100k+ rows.
    await q.query(`CREATE INDEX managed_certificates_created_at_id_idx ON managed_certificates (created_at, id)`);
    await q.query(`CREATE INDEX managed_certificates_expires_at_id_idx ON managed_certificates (expires_at, id)`);
    await q.query(`CREATE INDEX managed_certificates_updated_at_id_idx ON managed_certificates (updated_at, id)`);
    await q.query(`CREATE INDEX managed_certificates_status_expires_idx ON managed_certificates (status, expires_at)`);
    await q.query(`CREATE INDEX managed_certificates_owner_id_idx ON managed_certificates (owner_id)`);
    await q.query(`CREATE INDEX managed_certificates_team_id_idx ON managed_certificates (team_id)`);
    await q.query(`CREATE INDEX managed_certificates_issuer_id_idx ON managed_certificates (issuer_id)`);
    await q.query(`CREATE INDEX managed_certificates_profile_id_idx ON managed_certificates (profile_id)`);
    await q.query(`CREATE INDEX managed_certificates_agent_id_idx ON managed_certificates (agent_id)`);
    await q.query(
      `CREATE INDEX managed_certificates_renewal_policy_id_idx ON managed_certificates (renewal_policy_id)`,
    );
    // Live (non-archived) rows, the default list: keyset pages for every sort the API offers,
    // and an index-only count. Expiry sorts keep NULLs last both ways through a sentinel
    // (certificates.repository.ts EXPIRY_SORT_LAST / EXPIRY_SORT_FIRST: keep them identical).
    await q.query(
      `CREATE INDEX managed_certificates_live_expiry_asc_idx ON managed_certificates
         ((COALESCE(expires_at, '10000-01-01T00:00:00Z'::timestamptz)), id) WHERE archived_at IS NULL`,
    );
    await q.query(
      `CREATE INDEX managed_certificates_live_expiry_desc_idx ON managed_certificates
         ((COALESCE(expires_at, '0001-01-01T00:00:00Z'::timestamptz)), id) WHERE archived_at IS NULL`,
    );
    for (const col of ['name', 'common_name', 'status', 'environment']) {
      await q.query(
        `CREATE INDEX managed_certificates_live_${col}_idx ON managed_certificates (${col}, id) WHERE archived_at IS NULL`,
      );
    }

    await q.query(`
      CREATE TABLE certificate_versions (
        id                 TEXT PRIMARY KEY,
        certificate_id     TEXT NOT NULL REFERENCES managed_certificates (id) ON DELETE RESTRICT,
        serial_number      TEXT NOT NULL,
        fingerprint_sha256 TEXT NOT NULL,
        pem_chain          TEXT NOT NULL,
        csr_pem            TEXT,
        not_before         TIMESTAMPTZ NOT NULL,
        not_after          TIMESTAMPTZ NOT NULL,
        key_algorithm      TEXT NOT NULL DEFAULT '',
        key_size           INTEGER NOT NULL DEFAULT 0,
        created_at         TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(
      `CREATE INDEX certificate_versions_certificate_idx ON certificate_versions (certificate_id, created_at, id)`,
    );
    await q.query(`CREATE INDEX certificate_versions_created_at_idx ON certificate_versions (created_at)`);
    await q.query(`CREATE INDEX certificate_versions_serial_idx ON certificate_versions (serial_number)`);
    await q.query(`CREATE INDEX certificate_versions_fingerprint_idx ON certificate_versions (fingerprint_sha256)`);

    await q.query(`
      CREATE TABLE certificate_target_mappings (
        certificate_id TEXT NOT NULL REFERENCES managed_certificates (id) ON DELETE RESTRICT,
        target_id      TEXT NOT NULL REFERENCES deployment_targets (id) ON DELETE RESTRICT,
        created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (certificate_id, target_id)
      )
    `);
    await q.query(`CREATE INDEX certificate_target_mappings_target_idx ON certificate_target_mappings (target_id)`);

    await q.query(`
      CREATE TABLE policy_violations (
        id             TEXT PRIMARY KEY,
        certificate_id TEXT NOT NULL REFERENCES managed_certificates (id) ON DELETE RESTRICT,
        rule_id        TEXT NOT NULL REFERENCES policy_rules (id) ON DELETE CASCADE,
        message        TEXT NOT NULL,
        severity       TEXT NOT NULL,
        created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
        UNIQUE (certificate_id, rule_id)
      )
    `);
    await q.query(`CREATE INDEX policy_violations_rule_idx ON policy_violations (rule_id, created_at, id)`);

    // The job engine (its own issue) drives these rows; the inventory reads and cancels them.
    await q.query(`
      CREATE TABLE jobs (
        id             TEXT PRIMARY KEY,
        type           TEXT NOT NULL,
        certificate_id TEXT REFERENCES managed_certificates (id) ON DELETE RESTRICT,
        target_id      TEXT REFERENCES deployment_targets (id) ON DELETE RESTRICT,
        agent_id       TEXT REFERENCES agents (id) ON DELETE RESTRICT,
        status         TEXT NOT NULL DEFAULT 'Pending',
        attempts       INTEGER NOT NULL DEFAULT 0,
        max_attempts   INTEGER NOT NULL DEFAULT 3,
        last_error     TEXT,
        scheduled_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
        started_at     TIMESTAMPTZ,
        completed_at   TIMESTAMPTZ,
        created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`CREATE INDEX jobs_status_scheduled_idx ON jobs (status, scheduled_at)`);
    await q.query(`CREATE INDEX jobs_certificate_idx ON jobs (certificate_id)`);
    await q.query(`CREATE INDEX jobs_agent_status_idx ON jobs (agent_id, status)`);
    await q.query(`CREATE INDEX jobs_target_idx ON jobs (target_id)`);
    await q.query(`CREATE INDEX jobs_created_at_id_idx ON jobs (created_at, id)`);

    await q.query(`
      CREATE TABLE notification_events (
        id             TEXT PRIMARY KEY,
        type           TEXT NOT NULL,
        certificate_id TEXT REFERENCES managed_certificates (id) ON DELETE RESTRICT,
        channel        TEXT NOT NULL,
        recipient      TEXT NOT NULL DEFAULT '',
        message        TEXT NOT NULL DEFAULT '',
        severity       TEXT NOT NULL DEFAULT 'info',
        status         TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'dead')),
        retry_count    INTEGER NOT NULL DEFAULT 0,
        next_retry_at  TIMESTAMPTZ,
        last_error     TEXT,
        read_at        TIMESTAMPTZ,
        sent_at        TIMESTAMPTZ,
        created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`CREATE INDEX notification_events_status_retry_idx ON notification_events (status, next_retry_at)`);
    await q.query(`CREATE INDEX notification_events_certificate_idx ON notification_events (certificate_id)`);
    await q.query(`CREATE INDEX notification_events_created_at_id_idx ON notification_events (created_at, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [
      'notification_events',
      'jobs',
      'policy_violations',
      'certificate_target_mappings',
      'certificate_versions',
      'managed_certificates',
      'policy_rules',
      'renewal_policies',
      'certificate_profiles',
      'agent_group_members',
      'agent_groups',
      'deployment_targets',
      'agents',
      'issuers',
      'owners',
      'teams',
    ]) {
      await q.query(`DROP TABLE ${table}`);
    }
  }
}
