import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * ACME second increment: challenge validation needs no new table (challenge state lives in
 * the authorization's JSONB, with `processing` while a validation is queued). RFC 9773
 * `replaces`: an order may name the certificate (its ARI id) it renews; a certificate is
 * replaced at most once by an order that has not failed, which the partial unique index
 * enforces across replicas.
 */
export class AcmeValidation1796201600000 implements MigrationInterface {
  name = 'AcmeValidation1796201600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE acme_orders ADD COLUMN replaces TEXT`);
    await q.query(
      `CREATE UNIQUE INDEX acme_orders_replaces_idx ON acme_orders (replaces) WHERE replaces IS NOT NULL AND status <> 'invalid'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX acme_orders_replaces_idx`);
    await q.query(`ALTER TABLE acme_orders DROP COLUMN replaces`);
  }
}
