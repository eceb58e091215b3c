import { randomBytes } from 'node:crypto';
import { TestReceiver, type Received } from '../../../../libs/connectors/src/notifiers/testing/receiver';
import {
  createPrivateDatabase,
  createTestApp,
  eventually,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { startSmtpSink } from './notification-testing';

/**
 * A renewal policy's routing matrix, set through the renewal-policy API, decides where a
 * certificate's events go: real Postgres and Redis, local Slack and PagerDuty receivers and
 * an SMTP sink. Events are inserted the way the renewal check inserts them (one Email row).
 */

describe('per-policy notification routing', () => {
  const tag = randomBytes(4).toString('hex');
  const routingKey = randomBytes(16).toString('hex');
  let smtp: Awaited<ReturnType<typeof startSmtpSink>>;
  let slack: TestReceiver;
  let pagerduty: TestReceiver;
  let db: PrivateDatabase;
  let t: TestApp;
  let operator: string;

  const mentions = (r: Received, cn: string) => r.raw.toString('utf8').includes(cn);

  beforeAll(async () => {
    slack = await TestReceiver.start(() => ({ status: 200, body: 'ok' }));
    pagerduty = await TestReceiver.start((r) => {
      const body = r.json as { routing_key?: string; dedup_key?: string };
      if (r.path !== '/v2/enqueue' || body.routing_key !== routingKey) return { status: 400, body: 'bad request' };
      return { status: 202, body: { status: 'success', dedup_key: body.dedup_key } };
    });
    smtp = await startSmtpSink();
    db = await createPrivateDatabase('routing_matrix');
    t = await createTestApp({
      ...db.env,
      ...smtp.env,
      CERTCTL_SMTP_RECIPIENTS: 'pki-team@example.com',
      CERTCTL_SLACK_WEBHOOK_URL: `${slack.url}/services/T000/B000/XXXXXXXXXXXXXXXX`,
      CERTCTL_PAGERDUTY_ROUTING_KEY: routingKey,
      CERTCTL_PAGERDUTY_API_URL: pagerduty.url,
      CERTCTL_SCHEDULER_NOTIFICATION_PROCESS_INTERVAL: '1h',
    });
    operator = `Bearer ${(await t.mintKey(['operator'])).key}`;
  });

  afterAll(async () => {
    await slack?.stop();
    await pagerduty?.stop();
    await smtp?.close();
    await t?.close();
    await db?.drop();
  });

  const createPolicy = (body: Record<string, unknown>) =>
    t.http.post('/api/v1/renewal-policies').set('Authorization', operator).send(body);

  it('stores a validated matrix through the renewal-policy API and names what is wrong', async () => {
    const bad = await createPolicy({
      name: `bad-${tag}`,
      notification_routing: { expiry_warning: { critical: ['pager'] }, renewal_done: { info: ['email'] } },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain(
      'notification_routing.expiry_warning.critical: unknown channel \\"pager\\"',
    );
    expect(JSON.stringify(bad.body)).toContain('notification_routing.renewal_done: unknown event type');

    const created = await createPolicy({ id: `rp-plain-${tag}`, name: `plain-${tag}` });
    expect(created.status).toBe(201);
    expect(created.body.notification_routing).toBeNull();
    const matrix = { certificate_revoked: { critical: ['webhook'] } };
    const put = await t.http
      .put(`/api/v1/renewal-policies/rp-plain-${tag}`)
      .set('Authorization', operator)
      .send({ notification_routing: matrix });
    expect(put.status).toBe(200);
    expect(put.body.notification_routing).toEqual(matrix);
    const got = await t.http.get(`/api/v1/renewal-policies/rp-plain-${tag}`).set('Authorization', operator);
    expect(got.body.notification_routing).toEqual(matrix);
    const cleared = await t.http
      .put(`/api/v1/renewal-policies/rp-plain-${tag}`)
      .set('Authorization', operator)
      .send({ notification_routing: null });
    expect(cleared.body.notification_routing).toBeNull();
  });

  it("sends a 7-day critical to PagerDuty and Slack and a 30-day warning to email only, as the policy's matrix says", async () => {
    const policy = await createPolicy({
      id: `rp-matrix-${tag}`,
      name: `matrix-${tag}`,
      notification_routing: { expiry_warning: { warning: ['email'], critical: ['pagerduty', 'slack'] } },
    });
    expect(policy.status).toBe(201);
    const produce = async (name: string, severity: string) => {
      const cert = `mc-rm-${name}-${tag}`;
      const cn = `${name}-${tag}.example.com`;
      await t.ds.query(
        `INSERT INTO managed_certificates (id, name, common_name, renewal_policy_id) VALUES ($1, $1, $2, $3)`,
        [cert, cn, `rp-matrix-${tag}`],
      );
      await t.ds.query(
        `INSERT INTO notification_events (id, type, certificate_id, channel, recipient, message, severity, status, dedup_key)
         VALUES ($1, 'ExpirationWarning', $2, 'Email', '', $3, $4, 'pending', $1)`,
        [`notif-rm-${name}-${tag}`, cert, `Certificate ${cn} expires soon`, severity],
      );
      return { cert, cn };
    };
    const rows = (cert: string): Promise<{ channel: string; status: string; dedup_key: string }[]> =>
      t.ds.query(
        `SELECT lower(channel) AS channel, status, dedup_key FROM notification_events
          WHERE certificate_id = $1 ORDER BY lower(channel)`,
        [cert],
      );
    const allSent = (cert: string, n: number) =>
      eventually(async () => {
        const r = await rows(cert);
        return r.length === n && r.every((x) => x.status === 'sent') ? r : undefined;
      });

    const critical = await produce('week', 'critical');
    const warning = await produce('month', 'warning');

    const criticalRows = await allSent(critical.cert, 2);
    expect(criticalRows.map((r) => r.channel)).toEqual(['pagerduty', 'slack']);
    // The producer's row (with its dedup key) became the first routed channel's row.
    expect(criticalRows.find((r) => r.channel === 'slack')?.dedup_key).toBe(`notif-rm-week-${tag}`);
    expect(slack.received.filter((r) => mentions(r, critical.cn))).toHaveLength(1);
    expect(pagerduty.received.filter((r) => mentions(r, critical.cn))).toHaveLength(1);

    expect((await allSent(warning.cert, 1)).map((r) => r.channel)).toEqual(['email']);
    const mail = await eventually(async () => smtp.mails.find((m) => m.raw.includes(warning.cn)));
    expect(mail.to).toEqual(['pki-team@example.com']);
    expect(slack.received.filter((r) => mentions(r, warning.cn))).toEqual([]);
    expect(pagerduty.received.filter((r) => mentions(r, warning.cn))).toEqual([]);
    expect(smtp.mails.filter((m) => m.raw.includes(critical.cn))).toEqual([]);
  });
});
