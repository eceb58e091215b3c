import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per-policy notification routing (issue 10): a renewal policy may carry a matrix of event
 * type -> severity -> channels. NULL keeps the default routing. The API validates the shape
 * (known event types, severities and channels); the column only insists on an object.
 *
 * The remaining event producers are triggers: a job, approval request or agent changing state
 * inserts the event's notification row (Email, to the certificate owner, unrouted) in the same
 * transaction, whichever code path (job engine, agent report, timeout reaper, approval API or
 * expiry loop, health loop) made the change. Dedup keys make each transition notify once.
 */
export class NotificationRouting1796288000000 implements MigrationInterface {
  name = 'NotificationRouting1796288000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE renewal_policies ADD COLUMN notification_routing JSONB
        CHECK (notification_routing IS NULL OR jsonb_typeof(notification_routing) = 'object')
    `);

    // One event row; ids look like the application's (notif- + 12 of its alphabet).
    await q.query(`
      CREATE FUNCTION certctl_notify_event(p_type text, p_certificate text, p_message text, p_severity text,
                                           p_dedup text) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO notification_events
               (id, type, certificate_id, channel, recipient, message, severity, status, dedup_key)
        SELECT 'notif-' || array_to_string(ARRAY(
                 SELECT substr('abcdefghjkmnpqrstvwxyz0123456789', 1 + floor(random() * 32)::int, 1)
                   FROM generate_series(1, 12)), ''),
               p_type, p_certificate, 'Email',
               COALESCE((SELECT o.email FROM managed_certificates c JOIN owners o ON o.id = c.owner_id
                          WHERE c.id = p_certificate), ''),
               p_message, p_severity, 'pending', p_dedup
        ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING;
      END $$
    `);

    // Renewal success, and final failures (no attempt left) of renewals and deployments.
    await q.query(`
      CREATE FUNCTION jobs_notify_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        cn text := COALESCE((SELECT common_name FROM managed_certificates WHERE id = NEW.certificate_id),
                            NEW.certificate_id, '');
      BEGIN
        IF NEW.status = 'Completed' AND NEW.type = 'Renewal' THEN
          PERFORM certctl_notify_event('RenewalSuccess', NEW.certificate_id,
            format('Certificate %s was renewed (job %s)', cn, NEW.id), 'info', 'job-completed:' || NEW.id);
        ELSIF NEW.status = 'Failed' AND NEW.attempts >= NEW.max_attempts AND NEW.type IN ('Renewal', 'Deployment') THEN
          PERFORM certctl_notify_event(
            CASE NEW.type WHEN 'Renewal' THEN 'RenewalFailure' ELSE 'DeploymentFailure' END, NEW.certificate_id,
            format('%s of certificate %s failed after %s attempt(s) (job %s): %s',
                   NEW.type, cn, NEW.attempts, NEW.id, COALESCE(NEW.last_error, 'no error recorded')),
            'critical', 'job-failed:' || NEW.id);
        END IF;
        RETURN NULL;
      END $$
    `);
    await q.query(`
      CREATE TRIGGER jobs_notify_outcome AFTER UPDATE OF status, attempts ON jobs
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.attempts IS DISTINCT FROM NEW.attempts)
        EXECUTE FUNCTION jobs_notify_outcome()`);

    await q.query(`
      CREATE FUNCTION approval_requests_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        what text := CASE NEW.kind WHEN 'cert_issuance'
                       THEN 'issuance for certificate ' || COALESCE((SELECT common_name FROM managed_certificates
                                                                     WHERE id = NEW.certificate_id), NEW.certificate_id)
                       ELSE 'edit of profile ' || COALESCE(NEW.profile_id, '') END;
      BEGIN
        IF TG_OP = 'INSERT' AND NEW.state = 'pending' THEN
          PERFORM certctl_notify_event('ApprovalRequested', NEW.certificate_id,
            format('Approval %s requested by %s: %s', NEW.id, NEW.requested_by, what), 'warning',
            'approval-requested:' || NEW.id);
        ELSIF TG_OP = 'UPDATE' AND OLD.state = 'pending' AND NEW.state IN ('approved', 'rejected') THEN
          PERFORM certctl_notify_event('ApprovalDecided', NEW.certificate_id,
            format('Approval %s was %s by %s: %s', NEW.id, NEW.state, COALESCE(NEW.decided_by, 'unknown'), what),
            'info', 'approval-decided:' || NEW.id);
        ELSIF TG_OP = 'UPDATE' AND OLD.state = 'pending' AND NEW.state = 'expired' THEN
          PERFORM certctl_notify_event('ApprovalExpired', NEW.certificate_id,
            format('Approval %s expired undecided: %s', NEW.id, what), 'warning', 'approval-expired:' || NEW.id);
        END IF;
        RETURN NULL;
      END $$
    `);
    await q.query(`
      CREATE TRIGGER approval_requests_notify AFTER INSERT OR UPDATE OF state ON approval_requests
        FOR EACH ROW EXECUTE FUNCTION approval_requests_notify()`);

    // Each fall of a live agent to Offline is one event (the dedup key carries the moment).
    await q.query(`
      CREATE FUNCTION agents_notify_offline() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM certctl_notify_event('AgentOffline', NULL,
          format('Agent %s (%s) is offline; last heartbeat %s', NEW.name, NEW.id,
                 COALESCE(NEW.last_heartbeat_at::text, 'never')),
          'warning', 'agent-offline:' || NEW.id || ':' || extract(epoch FROM clock_timestamp())::text);
        RETURN NULL;
      END $$
    `);
    await q.query(`
      CREATE TRIGGER agents_notify_offline AFTER UPDATE OF status ON agents
        FOR EACH ROW WHEN (OLD.status <> 'Offline' AND NEW.status = 'Offline' AND NEW.retired_at IS NULL)
        EXECUTE FUNCTION agents_notify_offline()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER agents_notify_offline ON agents`);
    await q.query(`DROP TRIGGER approval_requests_notify ON approval_requests`);
    await q.query(`DROP TRIGGER jobs_notify_outcome ON jobs`);
    await q.query(`DROP FUNCTION agents_notify_offline()`);
    await q.query(`DROP FUNCTION approval_requests_notify()`);
    await q.query(`DROP FUNCTION jobs_notify_outcome()`);
    await q.query(`DROP FUNCTION certctl_notify_event(text, text, text, text, text)`);
    await q.query(`ALTER TABLE renewal_policies DROP COLUMN notification_routing`);
  }
}
