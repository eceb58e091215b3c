import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Notification delivery (issue 10): `routed_at` marks a row whose event was fanned out to
 * the configured channels (a row inserted by a producer starts unrouted); `claimed_until` is
 * the lease a worker holds while it sends, so two replicas never send one row twice and a
 * crashed sender's row becomes due again when the lease ends.
 *
 * A producer's insert notifies `certctl_notification_new` (delivered on commit only), so
 * servers route and enqueue new rows right after the producing transaction commits, whatever
 * code inserted them; the scheduler loop catches anything a listener missed.
 */
export class NotificationDelivery1796115200000 implements MigrationInterface {
  name = 'NotificationDelivery1796115200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE notification_events ADD COLUMN routed_at TIMESTAMPTZ`);
    await q.query(`ALTER TABLE notification_events ADD COLUMN claimed_until TIMESTAMPTZ`);
    // Rows from before delivery existed are not fanned out again.
    await q.query(`UPDATE notification_events SET routed_at = created_at`);
    await q.query(`
      CREATE FUNCTION notification_events_notify_new() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('certctl_notification_new', '');
        RETURN NULL;
      END $$`);
    // Row-level with WHEN: rows inserted already routed (the fan-out's siblings) stay quiet;
    // Postgres folds the identical notifications of one transaction into one.
    await q.query(`
      CREATE TRIGGER notification_events_new AFTER INSERT ON notification_events
        FOR EACH ROW WHEN (NEW.routed_at IS NULL) EXECUTE FUNCTION notification_events_notify_new()`);
    await q.query(
      `CREATE INDEX notification_events_unrouted_idx ON notification_events (created_at) WHERE routed_at IS NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX notification_events_unrouted_idx`);
    await q.query(`DROP TRIGGER notification_events_new ON notification_events`);
    await q.query(`DROP FUNCTION notification_events_notify_new()`);
    await q.query(`ALTER TABLE notification_events DROP COLUMN claimed_until`);
    await q.query(`ALTER TABLE notification_events DROP COLUMN routed_at`);
  }
}
