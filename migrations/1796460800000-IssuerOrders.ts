import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Asynchronous CAs (DigiCert, Sectigo, ...): an accepted order waits in `issuer_orders`
 * (one per Issuance/Renewal job, job AwaitingIssuer) with everything needed to record the
 * certificate once the CA issues it: the CSR or the server's sealed key, the key facts and
 * who asked. `next_poll_at` is both the backoff schedule and the lease a poller takes, so
 * any replica may poll and only one polls a given order at a time.
 */
export class IssuerOrders1796460800000 implements MigrationInterface {
  name = 'IssuerOrders1796460800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE issuer_orders (
        job_id             TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
        certificate_id     TEXT NOT NULL REFERENCES managed_certificates (id) ON DELETE CASCADE,
        issuer_id          TEXT NOT NULL REFERENCES issuers (id) ON DELETE CASCADE,
        order_id           TEXT NOT NULL CHECK (length(order_id) BETWEEN 1 AND 256),
        version_id         TEXT NOT NULL,
        -- The CSR sent to the CA (the agent's or device's, or the one the server's key signed).
        csr_pem            TEXT NOT NULL,
        -- Server key generation only: the key, sealed to version_id's context.
        sealed_private_key BYTEA,
        key_algorithm      TEXT NOT NULL,
        key_size           INTEGER NOT NULL,
        actor_id           TEXT NOT NULL,
        actor_type         TEXT NOT NULL,
        polls              INTEGER NOT NULL DEFAULT 0,
        last_status        TEXT,
        next_poll_at       TIMESTAMPTZ NOT NULL,
        deadline_at        TIMESTAMPTZ NOT NULL,
        created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
      )
    `);
    await q.query(`CREATE INDEX issuer_orders_due_idx ON issuer_orders (next_poll_at)`);
    // A job waiting for its CA is still the certificate's one open issuance.
    await q.query(`DROP INDEX jobs_one_open_issuance_idx`);
    await q.query(
      `CREATE UNIQUE INDEX jobs_one_open_issuance_idx ON jobs (certificate_id)
         WHERE type IN ('Issuance', 'Renewal')
           AND status IN ('Pending', 'AwaitingCSR', 'AwaitingApproval', 'AwaitingIssuer', 'Running')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX jobs_one_open_issuance_idx`);
    await q.query(
      `CREATE UNIQUE INDEX jobs_one_open_issuance_idx ON jobs (certificate_id)
         WHERE type IN ('Issuance', 'Renewal') AND status IN ('Pending', 'AwaitingCSR', 'AwaitingApproval', 'Running')`,
    );
    await q.query(`DROP TABLE issuer_orders`);
  }
}
