import { randomBytes } from 'node:crypto';
import { verifyWebhookSignature } from '@certctl/connectors';
import { TestReceiver, type Answer, type Received } from '../../../../libs/connectors/src/notifiers/testing/receiver';
import {
  createPrivateDatabase,
  createTestApp,
  eventually,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { NotificationLoops, NotificationSender } from './delivery.service';
import { startSmtpSink } from './notification-testing';

/**
 * Delivery against real Postgres, Redis (the notifications queue and the scheduler loops of
 * the app) and local HTTP receivers standing in for a webhook endpoint and PagerDuty. Events
 * are inserted the way producers insert them (one Email row, unrouted); time is driven by
 * moving next_retry_at into the past, never by sleeping.
 */

describe('notification delivery', () => {
  const tag = randomBytes(4).toString('hex');
  const secret = `whsec-${randomBytes(24).toString('hex')}`;
  const routingKey = randomBytes(16).toString('hex');
  /** What the webhook answers for each certificate id (the default: 200). */
  const webhookPlan = new Map<string, (attempt: number) => Answer | undefined>();
  const webhookAttempts = new Map<string, number>();
  /** Messages the SMTP sink accepted: envelope recipients and the raw message. */
  let smtp: Awaited<ReturnType<typeof startSmtpSink>>;
  let webhook: TestReceiver;
  let pagerduty: TestReceiver;
  let db: PrivateDatabase;
  let t: TestApp;
  let second: TestApp | undefined;
  let operator: string;
  let viewer: string;

  const certOf = (r: Received) => (r.json as { certificate?: { id?: string } } | undefined)?.certificate?.id ?? '';
  const deliveriesFor = (cert: string) => webhook.received.filter((r) => certOf(r) === cert);

  beforeAll(async () => {
    webhook = await TestReceiver.start((r) => {
      const valid = verifyWebhookSignature(
        secret,
        {
          timestamp: String(r.headers['x-certctl-timestamp']),
          signature: String(r.headers['x-certctl-signature']),
        },
        r.raw,
      );
      if (!valid.ok) return { status: 401, body: 'bad signature' };
      const cert = certOf(r);
      const attempt = (webhookAttempts.get(cert) ?? 0) + 1;
      webhookAttempts.set(cert, attempt);
      return (webhookPlan.get(cert) ?? (() => ({ status: 200 })))(attempt);
    });
    pagerduty = await TestReceiver.start((r) => {
      const body = r.json as { routing_key?: string; event_action?: string; dedup_key?: string };
      if (r.path !== '/v2/enqueue' || body.routing_key !== routingKey) return { status: 400, body: 'bad request' };
      return { status: 202, body: { status: 'success', dedup_key: body.dedup_key } };
    });
    // Plain SMTP on loopback: STARTTLS itself is the email adapter's own test's business.
    smtp = await startSmtpSink();
    db = await createPrivateDatabase('delivery');
    const env = {
      ...db.env,
      ...smtp.env,
      CERTCTL_SMTP_RECIPIENTS: 'pki-team@example.com,oncall@example.com',
      CERTCTL_WEBHOOK_URL: `${webhook.url}/hook`,
      CERTCTL_WEBHOOK_SECRET: secret,
      CERTCTL_PAGERDUTY_ROUTING_KEY: routingKey,
      CERTCTL_PAGERDUTY_API_URL: pagerduty.url,
      // Long enough that the hanging webhook is still hanging when the test looks.
      CERTCTL_NOTIFICATION_TIMEOUT: '30s',
      // New rows go out through the after-commit notification, not this loop (tested on its own below).
      CERTCTL_SCHEDULER_NOTIFICATION_PROCESS_INTERVAL: '1h',
      CERTCTL_NOTIFICATION_RETRY_INTERVAL: '200ms',
    };
    t = await createTestApp(env);
    operator = `Bearer ${(await t.mintKey(['operator'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    second = await createTestApp(env);
  });

  afterAll(async () => {
    // Receivers first: a hung exchange ends, so the workers can stop.
    await webhook?.stop();
    await pagerduty?.stop();
    await smtp?.close();
    await second?.close();
    await t?.close();
    await db?.drop();
  });

  /** A certificate and one event about it, inserted as the renewal check and revocation do. */
  async function produce(name: string, type: string, severity: string): Promise<{ cert: string; source: string }> {
    const cert = `mc-dlv-${name}-${tag}`;
    const source = `notif-dlv-${name}-${tag}`;
    await t.ds.query(`INSERT INTO managed_certificates (id, name, common_name) VALUES ($1, $1, $2)`, [
      cert,
      `${name}.example.com`,
    ]);
    await t.ds.query(
      `INSERT INTO notification_events (id, type, certificate_id, channel, recipient, message, severity, status, dedup_key)
       VALUES ($1, $2, $3, 'Email', 'owner@example.com', $4, $5, 'pending', $1)`,
      [source, type, cert, `Certificate ${name}.example.com needs attention`, severity],
    );
    return { cert, source };
  }

  interface Row {
    id: string;
    channel: string;
    status: string;
    retry_count: number;
    last_error: string | null;
    backoff_s: number | null;
    claimed: boolean;
  }
  const rowsFor = (cert: string): Promise<Row[]> =>
    t.ds.query(
      `SELECT id, channel, status, retry_count, last_error, claimed_until IS NOT NULL AS claimed,
              extract(epoch FROM next_retry_at - updated_at)::float8 AS backoff_s
         FROM notification_events WHERE certificate_id = $1 ORDER BY channel`,
      [cert],
    );
  const rowOf = async (cert: string, channel: string) => (await rowsFor(cert)).find((r) => r.channel === channel);
  const waitFor = (cert: string, channel: string, ok: (r: Row) => boolean) =>
    eventually(async () => {
      const r = await rowOf(cert, channel);
      return r && ok(r) ? r : undefined;
    }, 15_000);
  /** Makes a failed row due now instead of after its backoff. */
  const skipBackoff = (id: string) =>
    t.ds.query(`UPDATE notification_events SET next_retry_at = now() - interval '1 second' WHERE id = $1`, [id]);

  it('routes a warning to the owner by email and the webhook, and retries the webhook with 2^n minute backoff until sent', async () => {
    const { cert } = await produce('retry', 'ExpirationWarning', 'warning');
    webhookPlan.set(cert, (attempt) => (attempt <= 3 ? { status: 503, body: `busy ${attempt}` } : { status: 200 }));

    const backoffs: number[] = [];
    for (let failures = 1; failures <= 3; failures++) {
      const r = await waitFor(cert, 'webhook', (x) => x.retry_count === failures && x.status === 'failed');
      expect(r.last_error).toBe(`webhook: HTTP 503: busy ${failures}`);
      backoffs.push(r.backoff_s ?? -1);
      await skipBackoff(r.id);
    }
    expect(backoffs).toEqual([120, 240, 480]);
    const sent = await waitFor(cert, 'webhook', (x) => x.status === 'sent');
    expect(sent.retry_count).toBe(3);
    expect(deliveriesFor(cert)).toHaveLength(4);
    // Every attempt carries the row id as its delivery id, so receivers can drop duplicates.
    expect(new Set(deliveriesFor(cert).map((r) => r.headers['x-certctl-delivery']))).toEqual(new Set([sent.id]));
    // The producer's Email row went to the certificate owner; no page for a warning.
    await waitFor(cert, 'Email', (x) => x.status === 'sent');
    expect((await rowsFor(cert)).map((r) => [r.channel, r.status])).toEqual([
      ['Email', 'sent'],
      ['webhook', 'sent'],
    ]);
    const mail = smtp.mails.filter((m) =>
      m.raw.includes('Subject: [certctl] Certificate retry.example.com needs attention'),
    );
    expect(mail.map((m) => m.to)).toEqual([['owner@example.com']]);
    expect(pagerduty.received.filter((r) => JSON.stringify(r.json).includes(cert))).toHaveLength(0);
  });

  it("emails the certificate's team when the certificate has no owner address", async () => {
    const team = `team-dlv-${tag}`;
    await t.ds.query(`INSERT INTO teams (id, name) VALUES ($1, $1)`, [team]);
    for (const [id, email] of [
      [`own-a-${tag}`, `alice-${tag}@example.com`],
      [`own-b-${tag}`, `bob-${tag}@example.com`],
      [`own-c-${tag}`, ''],
    ]) {
      await t.ds.query(`INSERT INTO owners (id, name, email, team_id) VALUES ($1, $1, $2, $3)`, [id, email, team]);
    }
    const cert = `mc-dlv-team-${tag}`;
    await t.ds.query(`INSERT INTO managed_certificates (id, name, common_name, team_id) VALUES ($1, $1, $2, $3)`, [
      cert,
      'team.example.com',
      team,
    ]);
    await t.ds.query(
      `INSERT INTO notification_events (id, type, certificate_id, channel, recipient, message, severity, status, dedup_key)
       VALUES ($1, 'ExpirationWarning', $2, 'Email', '', 'Certificate team.example.com expires soon', 'warning', 'pending', $1)`,
      [`notif-dlv-team-${tag}`, cert],
    );
    await waitFor(cert, 'Email', (x) => x.status === 'sent');
    const mail = smtp.mails.filter((m) => m.raw.includes('Certificate team.example.com expires soon'));
    expect(mail.map((m) => m.to)).toEqual([[`alice-${tag}@example.com`, `bob-${tag}@example.com`]]);
  });

  it('goes dead after 5 failed attempts, counts in the dead-letter metrics, and is sent after a requeue', async () => {
    const { cert } = await produce('dead', 'ExpirationWarning', 'warning');
    let healthy = false;
    webhookPlan.set(cert, () => (healthy ? { status: 204 } : { status: 500, body: 'down' }));
    for (let failures = 1; failures < 5; failures++) {
      const r = await waitFor(cert, 'webhook', (x) => x.retry_count === failures && x.status === 'failed');
      await skipBackoff(r.id);
    }
    const dead = await waitFor(cert, 'webhook', (x) => x.status === 'dead');
    expect(dead).toMatchObject({ retry_count: 5, last_error: 'webhook: HTTP 500: down', backoff_s: null });
    expect(deliveriesFor(cert)).toHaveLength(5);

    const listed = await t.http
      .get(`/api/v1/notifications?status=dead&certificate_id=${cert}`)
      .set('Authorization', viewer);
    expect(listed.body.data.map((n: { id: string }) => n.id)).toEqual([dead.id]);
    const summary = await t.http.get('/api/v1/stats/summary').set('Authorization', viewer);
    expect(summary.body.notifications_dead).toBeGreaterThanOrEqual(1);
    const metricsKey = `Bearer ${(await t.mintKey(['admin'])).key}`;
    const metrics = await t.http.get('/api/v1/metrics/prometheus').set('Authorization', metricsKey);
    const gauge = /^certctl_notification_dead_total (\d+)$/m.exec(metrics.text);
    expect(Number(gauge?.[1])).toBeGreaterThanOrEqual(1);

    expect((await t.http.post(`/api/v1/notifications/${dead.id}/requeue`).set('Authorization', viewer)).status).toBe(
      403,
    );
    healthy = true;
    const requeued = await t.http.post(`/api/v1/notifications/${dead.id}/requeue`).set('Authorization', operator);
    expect(requeued.status).toBe(200);
    expect(requeued.body).toMatchObject({ id: dead.id, status: 'pending', retry_count: 0, next_retry_at: null });
    const sent = await waitFor(cert, 'webhook', (x) => x.status === 'sent');
    expect(sent.retry_count).toBe(0);
    expect(deliveriesFor(cert)).toHaveLength(6);

    const again = await t.http.post(`/api/v1/notifications/${dead.id}/requeue`).set('Authorization', operator);
    expect(again.status).toBe(409);
    expect(again.body.message).toMatch(/is sent; only failed or dead notifications can be requeued/);
    const missing = await t.http.post(`/api/v1/notifications/notif-nope-${tag}/requeue`).set('Authorization', operator);
    expect(missing.status).toBe(404);
    const audit: { action: string; details: Record<string, unknown> }[] = await t.ds.query(
      `SELECT action, details FROM audit_events WHERE category = 'domain' AND resource_id = $1`,
      [dead.id],
    );
    expect(audit).toEqual([
      {
        action: 'notification_requeued',
        details: {
          channel: 'webhook',
          previous_status: 'dead',
          previous_retry_count: 5,
          last_error: 'webhook: HTTP 500: down',
        },
      },
    ]);
  });

  it('marks a row dead at once when the receiver refuses it for good (4xx)', async () => {
    const { cert } = await produce('refused', 'ExpirationWarning', 'warning');
    webhookPlan.set(cert, () => ({ status: 422, body: 'unknown event' }));
    const dead = await waitFor(cert, 'webhook', (x) => x.status === 'dead');
    expect(dead).toMatchObject({ retry_count: 1, last_error: 'webhook: HTTP 422: unknown event' });
    expect(deliveriesFor(cert)).toHaveLength(1);
  });

  it('pages PagerDuty for a revocation while the hanging webhook of the same event is still waiting', async () => {
    const { cert } = await produce('hang', 'Revocation', 'warning');
    webhookPlan.set(cert, () => undefined);
    const page = await waitFor(cert, 'pagerduty', (x) => x.status === 'sent');
    expect(page.retry_count).toBe(0);
    const event = pagerduty.received.find((r) => JSON.stringify(r.json).includes(cert))?.json as {
      event_action: string;
      dedup_key: string;
      payload: { severity: string; class: string; component: string };
    };
    expect(event).toMatchObject({
      event_action: 'trigger',
      dedup_key: `certctl:certificate_revoked:${cert}`,
      payload: { severity: 'warning', class: 'certificate_revoked', component: 'hang.example.com' },
    });
    // The webhook got the same event, has not answered, and its row is still held by the sender.
    await eventually(async () => (deliveriesFor(cert).length === 1 ? true : undefined));
    expect(await rowOf(cert, 'webhook')).toMatchObject({ status: 'pending', retry_count: 0, claimed: true });
  });

  it('never sends one row twice when two app instances deliver it at once', async () => {
    const certs: string[] = [];
    for (let i = 0; i < 8; i++) certs.push((await produce(`pair${i}`, 'ExpirationWarning', 'warning')).cert);
    const a = t.app.get(NotificationSender);
    const b = second!.app.get(NotificationSender);
    // Race both instances' senders on each row (their queues and loops run as well).
    const ids = await eventually(async () => {
      const rows = await Promise.all(certs.map((c) => rowOf(c, 'webhook')));
      return rows.every(Boolean) ? rows.map((r) => r!.id) : undefined;
    });
    await Promise.all(ids.flatMap((id) => [a.deliver(id), b.deliver(id)]));
    for (const c of certs) await waitFor(c, 'webhook', (x) => x.status === 'sent');
    expect(certs.map((c) => deliveriesFor(c).length)).toEqual(certs.map(() => 1));
  });

  it('the process loop sends a due row that no queue message announced', async () => {
    const cert = `mc-dlv-loop-${tag}`;
    const id = `notif-dlv-loop-${tag}`;
    await t.ds.query(`INSERT INTO managed_certificates (id, name, common_name) VALUES ($1, $1, 'loop.example.com')`, [
      cert,
    ]);
    // Already routed: the insert trigger stays quiet, as if Redis had lost the message.
    await t.ds.query(
      `INSERT INTO notification_events (id, type, certificate_id, channel, message, severity, status, routed_at)
       VALUES ($1, 'ExpirationWarning', $2, 'webhook', 'loop', 'info', 'pending', now())`,
      [id, cert],
    );
    await t.app.get(NotificationLoops).processOnce();
    expect(await waitFor(cert, 'webhook', (x) => x.status === 'sent')).toMatchObject({ id, retry_count: 0 });
    expect(deliveriesFor(cert).map((r) => r.headers['x-certctl-delivery'])).toEqual([id]);
  });

  it('a revocation through the API is routed and delivered once its transaction commits', async () => {
    const cert = `mc-dlv-revoke-${tag}`;
    await t.ds.query(
      `INSERT INTO managed_certificates (id, name, common_name, status, expires_at)
       VALUES ($1, $1, 'revoke.example.com', 'Active', now() + interval '30 days')`,
      [cert],
    );
    await t.ds.query(
      `INSERT INTO certificate_versions (id, certificate_id, serial_number, fingerprint_sha256, pem_chain, not_before, not_after)
       VALUES ($1, $2, $3, 'ab', 'PEM', now(), now() + interval '30 days')`,
      [`cv-dlv-${tag}`, cert, `7f${randomBytes(15).toString('hex')}`],
    );
    const res = await t.http
      .post(`/api/v1/certificates/${cert}/revoke`)
      .set('Authorization', operator)
      .send({ reason: 'keyCompromise' });
    expect(res.status).toBe(200);
    await waitFor(cert, 'webhook', (x) => x.status === 'sent');
    await waitFor(cert, 'pagerduty', (x) => x.status === 'sent');
    const hook = deliveriesFor(cert)[0].json as {
      event: string;
      severity: string;
      certificate: { common_name: string };
    };
    expect(hook).toMatchObject({ event: 'certificate_revoked', certificate: { common_name: 'revoke.example.com' } });
    // No owner: the producer's Email row goes to CERTCTL_SMTP_RECIPIENTS.
    await waitFor(cert, 'Email', (x) => x.status === 'sent');
    expect(smtp.mails.filter((m) => m.raw.includes('revoke.example.com')).map((m) => m.to)).toEqual([
      ['pki-team@example.com', 'oncall@example.com'],
    ]);
    expect((await rowsFor(cert)).map((r) => [r.channel, r.status])).toEqual([
      ['Email', 'sent'],
      ['pagerduty', 'sent'],
      ['webhook', 'sent'],
    ]);
  });

  // Last: its hanging sends hold webhook slots until the receivers stop.
  it('a backlog of hanging webhook sends leaves slots for PagerDuty', async () => {
    // More hanging sends than both instances have slots (2 x CERTCTL_NOTIFICATION_CONCURRENCY 8).
    const stuck: string[] = [];
    for (let i = 0; i < 20; i++) {
      const { cert } = await produce(`stuck${i}`, 'ExpirationWarning', 'warning');
      webhookPlan.set(cert, () => undefined);
      stuck.push(cert);
    }
    await eventually(async () => (stuck.filter((c) => deliveriesFor(c).length > 0).length >= 4 ? true : undefined));
    const { cert } = await produce('page', 'Revocation', 'warning');
    webhookPlan.set(cert, () => undefined);
    await waitFor(cert, 'pagerduty', (x) => x.status === 'sent');
    // The webhook backlog is still held: the page did not wait for it.
    const held = stuck.filter((c) => deliveriesFor(c).length > 0).length;
    expect(held).toBeGreaterThanOrEqual(4);
    expect(held).toBeLessThan(stuck.length);
  });
});
