import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Platform foundation: the RBAC catalogue (permissions, roles, keys, actor roles), the
 * append-only audit trail, and a small key/value table for one-time system state.
 */
export class Foundation1795337600000 implements MigrationInterface {
  name = 'Foundation1795337600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE permissions (
        name        TEXT PRIMARY KEY,
        description TEXT NOT NULL DEFAULT ''
      )
    `);
    await q.query(`
      CREATE TABLE roles (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        builtin     BOOLEAN NOT NULL DEFAULT false,
        created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`
      CREATE TABLE role_permissions (
        role_id    TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
        permission TEXT NOT NULL REFERENCES permissions (name) ON DELETE RESTRICT,
        PRIMARY KEY (role_id, permission)
      )
    `);
    // A key authenticates an actor; roles attach to the actor, so rotating a key keeps them.
    await q.query(`
      CREATE TABLE api_keys (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        actor_id     TEXT NOT NULL,
        actor_type   TEXT NOT NULL DEFAULT 'ApiKey',
        key_hash     CHAR(64) NOT NULL UNIQUE,
        key_prefix   TEXT NOT NULL,
        created_by   TEXT NOT NULL,
        created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
        expires_at   TIMESTAMPTZ,
        revoked_at   TIMESTAMPTZ,
        last_used_at TIMESTAMPTZ
      )
    `);
    await q.query(`CREATE INDEX api_keys_actor_id_idx ON api_keys (actor_id)`);
    await q.query(`CREATE INDEX api_keys_created_at_id_idx ON api_keys (created_at, id)`);
    await q.query(`
      CREATE TABLE actor_roles (
        actor_id   TEXT NOT NULL,
        role_id    TEXT NOT NULL REFERENCES roles (id) ON DELETE RESTRICT,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        created_by TEXT NOT NULL,
        PRIMARY KEY (actor_id, role_id)
      )
    `);
    await q.query(`CREATE INDEX actor_roles_role_id_idx ON actor_roles (role_id)`);
    await q.query(`
      CREATE TABLE system_state (
        key        TEXT PRIMARY KEY,
        value      JSONB NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);

    await q.query(`
      CREATE TABLE audit_events (
        id            TEXT PRIMARY KEY,
        category      TEXT NOT NULL CHECK (category IN ('api', 'domain', 'system')),
        actor         TEXT NOT NULL,
        actor_type    TEXT NOT NULL,
        action        TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        resource_id   TEXT NOT NULL DEFAULT '',
        details       JSONB NOT NULL DEFAULT '{}'::jsonb,
        created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`CREATE INDEX audit_events_created_at_id_idx ON audit_events (created_at, id)`);
    await q.query(`CREATE INDEX audit_events_actor_idx ON audit_events (actor, created_at)`);
    await q.query(`CREATE INDEX audit_events_resource_idx ON audit_events (resource_type, resource_id, created_at)`);
    await q.query(`CREATE INDEX audit_events_action_idx ON audit_events (action, created_at)`);
    // The audit trail is append-only for every database role, the owner included.
    await q.query(`
      CREATE FUNCTION audit_events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END
      $$
    `);
    await q.query(`
      CREATE TRIGGER audit_events_no_update_delete
        BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_reject_change()
    `);
    await q.query(`
      CREATE TRIGGER audit_events_no_truncate
        BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_change()
    `);

    // Seed data: the permission catalogue and the built-in roles.
    await q.query(`
      INSERT INTO permissions (name) VALUES
        ('agent.edit'),
        ('agent.heartbeat'),
        ('agent.job.complete'),
        ('agent.job.poll'),
        ('agent.job.report'),
        ('agent.read'),
        ('agent.retire'),
        ('approval.approve'),
        ('approval.read'),
        ('approval.reject'),
        ('audit.export'),
        ('audit.read'),
        ('auth.bootstrap.use'),
        ('auth.breakglass.admin'),
        ('auth.breakglass.login'),
        ('auth.key.create'),
        ('auth.key.delete'),
        ('auth.key.list'),
        ('auth.key.rotate'),
        ('auth.oidc.create'),
        ('auth.oidc.delete'),
        ('auth.oidc.edit'),
        ('auth.oidc.list'),
        ('auth.role.assign'),
        ('auth.role.create'),
        ('auth.role.delete'),
        ('auth.role.edit'),
        ('auth.role.list'),
        ('auth.role.revoke'),
        ('auth.session.list'),
        ('auth.session.list.all'),
        ('auth.session.revoke'),
        ('auth.user.deactivate'),
        ('auth.user.read'),
        ('ca.hierarchy.manage'),
        ('cert.bulk_revoke'),
        ('cert.delete'),
        ('cert.edit'),
        ('cert.issue'),
        ('cert.read'),
        ('cert.revoke'),
        ('crl.admin'),
        ('digest.read'),
        ('digest.send'),
        ('discovery.claim'),
        ('discovery.read'),
        ('discovery.run'),
        ('est.admin'),
        ('healthcheck.acknowledge'),
        ('healthcheck.delete'),
        ('healthcheck.edit'),
        ('healthcheck.read'),
        ('issuer.delete'),
        ('issuer.edit'),
        ('issuer.read'),
        ('job.cancel'),
        ('job.read'),
        ('metrics.read'),
        ('network_scan.edit'),
        ('network_scan.read'),
        ('network_scan.run'),
        ('notification.edit'),
        ('notification.read'),
        ('owner.delete'),
        ('owner.edit'),
        ('owner.read'),
        ('policy.delete'),
        ('policy.edit'),
        ('policy.read'),
        ('profile.delete'),
        ('profile.edit'),
        ('profile.read'),
        ('scep.admin'),
        ('stats.read'),
        ('target.delete'),
        ('target.edit'),
        ('target.read'),
        ('team.delete'),
        ('team.edit'),
        ('team.read'),
        ('verification.read'),
        ('verification.run')
    `);
    await q.query(`
      INSERT INTO roles (id, name, description, builtin) VALUES
        ('role-admin', 'admin', 'Full access, including identity and access administration', true),
        ('role-operator', 'operator', 'Certificate operations: issue, renew, deploy, revoke, configure issuers and targets', true),
        ('role-viewer', 'viewer', 'Read-only access to inventory and status', true),
        ('role-agent', 'agent', 'Agent processes: heartbeat, work poll, CSR submission, job status, discovery reports', true),
        ('role-mcp', 'mcp', 'The MCP app acting for an operator', true),
        ('role-cli', 'cli', 'The command-line client acting for an operator', true),
        ('role-auditor', 'auditor', 'Read-only access plus the audit trail and its export', true)
    `);
    await q.query(
      `INSERT INTO role_permissions (role_id, permission) SELECT 'role-admin', name FROM permissions WHERE name IN ('agent.edit', 'agent.heartbeat', 'agent.job.complete', 'agent.job.poll', 'agent.job.report', 'agent.read', 'agent.retire', 'approval.approve', 'approval.read', 'approval.reject', 'audit.export', 'audit.read', 'auth.bootstrap.use', 'auth.breakglass.admin', 'auth.breakglass.login', 'auth.key.create', 'auth.key.delete', 'auth.key.list', 'auth.key.rotate', 'auth.oidc.create', 'auth.oidc.delete', 'auth.oidc.edit', 'auth.oidc.list', 'auth.role.assign', 'auth.role.create', 'auth.role.delete', 'auth.role.edit', 'auth.role.list', 'auth.role.revoke', 'auth.session.list', 'auth.session.list.all', 'auth.session.revoke', 'auth.user.deactivate', 'auth.user.read', 'ca.hierarchy.manage', 'cert.bulk_revoke', 'cert.delete', 'cert.edit', 'cert.issue', 'cert.read', 'cert.revoke', 'crl.admin', 'digest.read', 'digest.send', 'discovery.claim', 'discovery.read', 'discovery.run', 'est.admin', 'healthcheck.acknowledge', 'healthcheck.delete', 'healthcheck.edit', 'healthcheck.read', 'issuer.delete', 'issuer.edit', 'issuer.read', 'job.cancel', 'job.read', 'metrics.read', 'network_scan.edit', 'network_scan.read', 'network_scan.run', 'notification.edit', 'notification.read', 'owner.delete', 'owner.edit', 'owner.read', 'policy.delete', 'policy.edit', 'policy.read', 'profile.delete', 'profile.edit', 'profile.read', 'scep.admin', 'stats.read', 'target.delete', 'target.edit', 'target.read', 'team.delete', 'team.edit', 'team.read', 'verification.read', 'verification.run');`,
    );
    await q.query(
      `INSERT INTO role_permissions (role_id, permission) SELECT 'role-operator', name FROM permissions WHERE name IN ('agent.edit', 'agent.heartbeat', 'agent.job.complete', 'agent.job.poll', 'agent.job.report', 'agent.read', 'agent.retire', 'approval.approve', 'approval.read', 'approval.reject', 'audit.read', 'cert.bulk_revoke', 'cert.delete', 'cert.edit', 'cert.issue', 'cert.read', 'cert.revoke', 'crl.admin', 'digest.read', 'digest.send', 'discovery.claim', 'discovery.read', 'discovery.run', 'est.admin', 'healthcheck.acknowledge', 'healthcheck.delete', 'healthcheck.edit', 'healthcheck.read', 'issuer.delete', 'issuer.edit', 'issuer.read', 'job.cancel', 'job.read', 'metrics.read', 'network_scan.edit', 'network_scan.read', 'network_scan.run', 'notification.edit', 'notification.read', 'owner.delete', 'owner.edit', 'owner.read', 'policy.delete', 'policy.edit', 'policy.read', 'profile.delete', 'profile.edit', 'profile.read', 'scep.admin', 'stats.read', 'target.delete', 'target.edit', 'target.read', 'team.delete', 'team.edit', 'team.read', 'verification.read', 'verification.run');`,
    );
    await q.query(
      `INSERT INTO role_permissions (role_id, permission) SELECT 'role-viewer', name FROM permissions WHERE name IN ('agent.read', 'approval.read', 'audit.read', 'cert.read', 'digest.read', 'discovery.read', 'healthcheck.read', 'issuer.read', 'job.read', 'metrics.read', 'network_scan.read', 'notification.read', 'owner.read', 'policy.read', 'profile.read', 'stats.read', 'target.read', 'team.read', 'verification.read');`,
    );
    await q.query(
      `INSERT INTO role_permissions (role_id, permission) SELECT 'role-agent', name FROM permissions WHERE name IN ('agent.heartbeat', 'agent.job.poll', 'agent.job.report', 'agent.job.complete', 'agent.read', 'discovery.run', 'verification.run');`,
    );
    await q.query(
      `INSERT INTO role_permissions (role_id, permission) SELECT 'role-mcp', name FROM permissions WHERE name IN ('agent.edit', 'agent.heartbeat', 'agent.job.complete', 'agent.job.poll', 'agent.job.report', 'agent.read', 'agent.retire', 'approval.approve', 'approval.read', 'approval.reject', 'audit.read', 'cert.bulk_revoke', 'cert.delete', 'cert.edit', 'cert.issue', 'cert.read', 'cert.revoke', 'crl.admin', 'digest.read', 'digest.send', 'discovery.claim', 'discovery.read', 'discovery.run', 'est.admin', 'healthcheck.acknowledge', 'healthcheck.delete', 'healthcheck.edit', 'healthcheck.read', 'issuer.delete', 'issuer.edit', 'issuer.read', 'job.cancel', 'job.read', 'metrics.read', 'network_scan.edit', 'network_scan.read', 'network_scan.run', 'notification.edit', 'notification.read', 'owner.delete', 'owner.edit', 'owner.read', 'policy.delete', 'policy.edit', 'policy.read', 'profile.delete', 'profile.edit', 'profile.read', 'scep.admin', 'stats.read', 'target.delete', 'target.edit', 'target.read', 'team.delete', 'team.edit', 'team.read', 'verification.read', 'verification.run');`,
    );
    await q.query(
      `INSERT INTO role_permissions (role_id, permission) SELECT 'role-cli', name FROM permissions WHERE name IN ('agent.edit', 'agent.heartbeat', 'agent.job.complete', 'agent.job.poll', 'agent.job.report', 'agent.read', 'agent.retire', 'approval.approve', 'approval.read', 'approval.reject', 'audit.read', 'cert.bulk_revoke', 'cert.delete', 'cert.edit', 'cert.issue', 'cert.read', 'cert.revoke', 'crl.admin', 'digest.read', 'digest.send', 'discovery.claim', 'discovery.read', 'discovery.run', 'est.admin', 'healthcheck.acknowledge', 'healthcheck.delete', 'healthcheck.edit', 'healthcheck.read', 'issuer.delete', 'issuer.edit', 'issuer.read', 'job.cancel', 'job.read', 'metrics.read', 'network_scan.edit', 'network_scan.read', 'network_scan.run', 'notification.edit', 'notification.read', 'owner.delete', 'owner.edit', 'owner.read', 'policy.delete', 'policy.edit', 'policy.read', 'profile.delete', 'profile.edit', 'profile.read', 'scep.admin', 'stats.read', 'target.delete', 'target.edit', 'target.read', 'team.delete', 'team.edit', 'team.read', 'verification.read', 'verification.run');`,
    );
    await q.query(
      `INSERT INTO role_permissions (role_id, permission) SELECT 'role-auditor', name FROM permissions WHERE name IN ('agent.read', 'approval.read', 'audit.read', 'cert.read', 'digest.read', 'discovery.read', 'healthcheck.read', 'issuer.read', 'job.read', 'metrics.read', 'network_scan.read', 'notification.read', 'owner.read', 'policy.read', 'profile.read', 'stats.read', 'target.read', 'team.read', 'verification.read', 'audit.read', 'audit.export', 'auth.key.list', 'auth.role.list');`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_events`);
    await q.query(`DROP FUNCTION audit_events_reject_change()`);
    await q.query(`DROP TABLE system_state`);
    await q.query(`DROP TABLE actor_roles`);
    await q.query(`DROP TABLE api_keys`);
    await q.query(`DROP TABLE role_permissions`);
    await q.query(`DROP TABLE roles`);
    await q.query(`DROP TABLE permissions`);
  }
}
