import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The approval workflow: requests (issuance gated by a profile, or an edit of a gated
 * profile), one decision row per actor (the unique key makes a concurrent double click
 * count once), and the profile's approval policy (M-of-N, approver roles).
 */
export class Approvals1795683200000 implements MigrationInterface {
  name = 'Approvals1795683200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE certificate_profiles
        ADD COLUMN required_approvals INTEGER NOT NULL DEFAULT 1 CHECK (required_approvals BETWEEN 1 AND 10),
        ADD COLUMN approver_roles     TEXT[] NOT NULL DEFAULT '{}'
    `);
    await q.query(`
      CREATE TABLE approval_requests (
        id                 TEXT PRIMARY KEY,
        kind               TEXT NOT NULL CHECK (kind IN ('cert_issuance', 'profile_edit')),
        state              TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected', 'expired')),
        certificate_id     TEXT REFERENCES managed_certificates (id) ON DELETE RESTRICT,
        job_id             TEXT REFERENCES jobs (id) ON DELETE RESTRICT,
        profile_id         TEXT REFERENCES certificate_profiles (id) ON DELETE RESTRICT,
        payload            JSONB,
        requested_by       TEXT NOT NULL,
        requested_by_type  TEXT NOT NULL,
        required_approvals INTEGER NOT NULL DEFAULT 1 CHECK (required_approvals BETWEEN 1 AND 10),
        approver_roles     TEXT[] NOT NULL DEFAULT '{}',
        decided_by         TEXT,
        decided_at         TIMESTAMPTZ,
        note               TEXT,
        created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
        CHECK (kind <> 'cert_issuance' OR (certificate_id IS NOT NULL AND job_id IS NOT NULL)),
        CHECK (kind <> 'profile_edit' OR (profile_id IS NOT NULL AND payload IS NOT NULL)),
        CHECK ((state = 'pending') = (decided_at IS NULL))
      )
    `);
    await q.query(
      `CREATE UNIQUE INDEX approval_requests_job_idx ON approval_requests (job_id) WHERE job_id IS NOT NULL`,
    );
    // One pending edit per profile: a second PUT while one waits is a 409 naming the first.
    await q.query(
      `CREATE UNIQUE INDEX approval_requests_pending_edit_idx ON approval_requests (profile_id)
         WHERE kind = 'profile_edit' AND state = 'pending'`,
    );
    await q.query(`CREATE INDEX approval_requests_state_created_idx ON approval_requests (state, created_at, id)`);
    await q.query(`CREATE INDEX approval_requests_created_at_id_idx ON approval_requests (created_at, id)`);
    await q.query(`CREATE INDEX approval_requests_certificate_idx ON approval_requests (certificate_id)`);
    await q.query(`
      CREATE TABLE approval_decisions (
        request_id TEXT NOT NULL REFERENCES approval_requests (id) ON DELETE RESTRICT,
        actor      TEXT NOT NULL,
        actor_type TEXT NOT NULL,
        decision   TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
        note       TEXT,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (request_id, actor)
      )
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE approval_decisions`);
    await q.query(`DROP TABLE approval_requests`);
    await q.query(`ALTER TABLE certificate_profiles DROP COLUMN approver_roles, DROP COLUMN required_approvals`);
  }
}
