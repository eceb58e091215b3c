import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * ACME server (RFC 8555). Accounts are keyed by the SHA-256 JWK thumbprint of their key
 * (one account per key, the key change moves it); orders carry their identifiers and, once
 * finalized, the enrollment request that issues them through the ordinary issuance path
 * (the certificate is marked enrolled_via 'ACME'). Authorizations hold their challenge
 * objects. External Account Binding HMAC keys are sealed with the config encryption key
 * (they must be readable to verify an HMAC) and are spent by the account that uses them.
 */
export class Acme1796028800000 implements MigrationInterface {
  name = 'Acme1796028800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE managed_certificates DROP CONSTRAINT managed_certificates_enrolled_via_check`);
    await q.query(`ALTER TABLE managed_certificates ADD CONSTRAINT managed_certificates_enrolled_via_check
                     CHECK (enrolled_via IN ('EST', 'SCEP', 'ACME'))`);
    await q.query(`ALTER TABLE enrollment_requests DROP CONSTRAINT enrollment_requests_protocol_check`);
    await q.query(`ALTER TABLE enrollment_requests ADD CONSTRAINT enrollment_requests_protocol_check
                     CHECK (protocol IN ('EST', 'SCEP', 'ACME'))`);
    await q.query(`
      CREATE TABLE acme_eab_keys (
        kid          TEXT PRIMARY KEY,
        sealed_key   BYTEA NOT NULL,
        description  TEXT NOT NULL DEFAULT '',
        created_by   TEXT NOT NULL,
        used_by      TEXT,
        used_at      TIMESTAMPTZ,
        created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`
      CREATE TABLE acme_accounts (
        id               TEXT PRIMARY KEY,
        jwk              JSONB NOT NULL,
        jwk_thumbprint   TEXT NOT NULL UNIQUE,
        status           TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'deactivated', 'revoked')),
        contact          TEXT[] NOT NULL DEFAULT '{}',
        tos_agreed       BOOLEAN NOT NULL DEFAULT false,
        eab_kid          TEXT REFERENCES acme_eab_keys (kid) ON DELETE RESTRICT,
        created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`
      CREATE TABLE acme_orders (
        id               TEXT PRIMARY KEY,
        account_id       TEXT NOT NULL REFERENCES acme_accounts (id) ON DELETE CASCADE,
        profile_id       TEXT,
        status           TEXT NOT NULL CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),
        identifiers      JSONB NOT NULL,
        not_before       TIMESTAMPTZ,
        not_after        TIMESTAMPTZ,
        expires_at       TIMESTAMPTZ NOT NULL,
        error            JSONB,
        request_id       TEXT REFERENCES enrollment_requests (id) ON DELETE RESTRICT,
        certificate_id   TEXT REFERENCES managed_certificates (id) ON DELETE RESTRICT,
        created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`CREATE INDEX acme_orders_account_idx ON acme_orders (account_id)`);
    await q.query(`CREATE INDEX acme_orders_certificate_idx ON acme_orders (certificate_id)`);
    await q.query(`
      CREATE TABLE acme_authorizations (
        id           TEXT PRIMARY KEY,
        order_id     TEXT NOT NULL REFERENCES acme_orders (id) ON DELETE CASCADE,
        identifier   JSONB NOT NULL,
        wildcard     BOOLEAN NOT NULL DEFAULT false,
        status       TEXT NOT NULL CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
        expires_at   TIMESTAMPTZ NOT NULL,
        challenges   JSONB NOT NULL,
        created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`CREATE INDEX acme_authorizations_order_idx ON acme_authorizations (order_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE acme_authorizations`);
    await q.query(`DROP TABLE acme_orders`);
    await q.query(`DROP TABLE acme_accounts`);
    await q.query(`DROP TABLE acme_eab_keys`);
    await q.query(`DELETE FROM enrollment_requests WHERE protocol = 'ACME'`);
    await q.query(`ALTER TABLE enrollment_requests DROP CONSTRAINT enrollment_requests_protocol_check`);
    await q.query(`ALTER TABLE enrollment_requests ADD CONSTRAINT enrollment_requests_protocol_check
                     CHECK (protocol IN ('EST', 'SCEP'))`);
    await q.query(`UPDATE managed_certificates SET enrolled_via = NULL WHERE enrolled_via = 'ACME'`);
    await q.query(`ALTER TABLE managed_certificates DROP CONSTRAINT managed_certificates_enrolled_via_check`);
    await q.query(`ALTER TABLE managed_certificates ADD CONSTRAINT managed_certificates_enrolled_via_check
                     CHECK (enrolled_via IN ('EST', 'SCEP'))`);
  }
}
