import { randomBytes } from 'node:crypto';
import { verifyWebhookSignature } from '../libs/connectors/src/notifiers/webhook';
import { TestReceiver, type Received } from '../libs/connectors/src/notifiers/testing/receiver';
import { apiCall, createIssuerAndProfile, type HttpsClient } from './support/https';
import { cleanupAll, runServerExpectingExit, startIssuingServer, type ServerProcess } from './support/server-process';
import { pollUntil } from './support/util';

/**
 * Notification channels of the built server, configured from its environment: a bad channel
 * setting stops the boot naming the variable; a revocation through the API reaches a signed
 * webhook receiver and PagerDuty (Events API v2) on loopback.
 */

const tag = randomBytes(4).toString('hex');
const secret = `e2e-${randomBytes(24).toString('hex')}`;
const routingKey = randomBytes(16).toString('hex');

afterAll(cleanupAll, 60_000);

test('bad channel settings stop the boot (exit 2) naming each variable, never the secret', async () => {
  const r = await runServerExpectingExit({
    CERTCTL_WEBHOOK_URL: 'https://hooks.example.com/certctl',
    CERTCTL_WEBHOOK_SECRET: 'too-short-e2e-secret',
    CERTCTL_PAGERDUTY_ROUTING_KEY: 'not-a-routing-key',
  });
  expect({ code: r.code, signal: r.signal }).toEqual({ code: 2, signal: null });
  expect(r.stderr).toMatch(/CERTCTL_WEBHOOK_SECRET: must be at least 32 characters/);
  expect(r.stderr).toMatch(/CERTCTL_PAGERDUTY_ROUTING_KEY: must be a 32-character integration key/);
  expect(r.stderr).not.toContain('too-short-e2e-secret');
  expect(r.stderr).not.toContain('not-a-routing-key');
});

describe('a revocation reaches the webhook and PagerDuty', () => {
  let webhook: TestReceiver;
  let pagerduty: TestReceiver;
  let srv: ServerProcess;
  let api: HttpsClient;
  let admin: string;

  beforeAll(async () => {
    webhook = await TestReceiver.start((r) => {
      const ok = verifyWebhookSignature(
        secret,
        { timestamp: String(r.headers['x-certctl-timestamp']), signature: String(r.headers['x-certctl-signature']) },
        r.raw,
      ).ok;
      return ok ? { status: 204 } : { status: 401, body: 'bad signature' };
    });
    pagerduty = await TestReceiver.start((r) => {
      const body = r.json as { routing_key?: string; dedup_key?: string };
      if (r.path !== '/v2/enqueue' || body.routing_key !== routingKey) return { status: 400, body: 'bad request' };
      return { status: 202, body: { status: 'success', dedup_key: body.dedup_key } };
    });
    ({ srv, api, admin } = await startIssuingServer('notify', {
      CERTCTL_KEYGEN_MODE: 'server',
      CERTCTL_WEBHOOK_URL: `${webhook.url}/certctl`,
      CERTCTL_WEBHOOK_SECRET: secret,
      CERTCTL_PAGERDUTY_ROUTING_KEY: routingKey,
      CERTCTL_PAGERDUTY_API_URL: pagerduty.url,
    }));
  }, 60_000);

  afterAll(async () => {
    await srv?.stop();
    await webhook?.stop();
    await pagerduty?.stop();
  });

  test('issue, revoke: one signed webhook delivery and one PagerDuty trigger, rows sent', async () => {
    const ids = { issuer: `iss-e2e-nt-${tag}`, profile: `prof-e2e-nt-${tag}` };
    const cert = `mc-e2e-nt-${tag}`;
    await createIssuerAndProfile(api, admin, ids, `notify ${tag}`);
    await apiCall(
      api,
      admin,
      'POST',
      '/api/v1/certificates',
      { id: cert, name: cert, common_name: 'notify.example.com', issuer_id: ids.issuer, profile_id: ids.profile },
      201,
    );
    const job = (await apiCall(api, admin, 'POST', `/api/v1/certificates/${cert}/renew`, {}, 202)).json as {
      id: string;
    };
    await pollUntil(
      `job ${job.id} to complete`,
      async () => ((await apiCall(api, admin, 'GET', `/api/v1/jobs/${job.id}`)).json as { status: string }).status,
      (s) => s === 'Completed',
      { timeoutMs: 30_000 },
    );
    await apiCall(api, admin, 'POST', `/api/v1/certificates/${cert}/revoke`, { reason: 'keyCompromise' }, 200);

    // The renewal's own success event is delivered too; this test is about the revocation's rows.
    type Row = { type: string; channel: string; status: string; retry_count: number };
    const revocationRows = (d: Row[]) => d.filter((r) => r.type === 'Revocation');
    const rows = await pollUntil(
      'the webhook and pagerduty rows to be sent',
      async () =>
        (
          (await apiCall(api, admin, 'GET', `/api/v1/notifications?certificate_id=${cert}&sort=created_at`)).json as {
            data: Row[];
          }
        ).data,
      (d) =>
        ['webhook', 'pagerduty'].every((c) => revocationRows(d).some((r) => r.channel === c && r.status === 'sent')),
    );
    expect(
      revocationRows(rows)
        .map((r) => [r.channel, r.status, r.retry_count])
        .sort(),
    ).toEqual([
      ['Email', 'pending', 0],
      ['pagerduty', 'sent', 0],
      ['webhook', 'sent', 0],
    ]);

    const about = (r: Received) => JSON.stringify(r.json).includes(cert);
    const hooks = webhook.received.filter(
      (r) => about(r) && (r.json as { event?: string }).event === 'certificate_revoked',
    );
    expect(hooks).toHaveLength(1);
    expect(hooks[0].json).toMatchObject({
      event: 'certificate_revoked',
      certificate: { id: cert, common_name: 'notify.example.com' },
    });
    const pages = pagerduty.received.filter(about);
    expect(pages).toHaveLength(1);
    expect(pages[0].json).toMatchObject({
      event_action: 'trigger',
      dedup_key: `certctl:certificate_revoked:${cert}`,
      payload: { class: 'certificate_revoked', component: 'notify.example.com' },
    });
  }, 60_000);
});
