import { createHmac, timingSafeEqual } from 'node:crypto';
import { request } from 'node:http';
import { createSelfSignedTlsBundle } from '@certctl/pki';
import { NotifierError, type NotificationMessage } from './notifier-port';
import { notifierFor } from './registry';
import { TestReceiver, type Answer, type Handler, type Received } from './testing/receiver';
import { WebhookNotifier } from './webhook';

/*
 * Every HTTP channel against a real node:http receiver on 127.0.0.1. The receivers check
 * the documented request shapes and answer 400 with the problems when a field is wrong, so
 * a send only succeeds when the request is what the provider expects.
 */

const WEBHOOK_SECRET = 'whsec-0123456789abcdef0123456789abcdef';
const ROUTING_KEY = 'R0123456789abcdef0123456789abcde';
const GENIE_KEY = 'e3b0c442-98fc-1c14-9afb-f4c8996fb924';

const expiring: NotificationMessage = {
  id: 'notif-01',
  event: 'expiry_warning',
  severity: 'critical',
  title: 'api.example.com expires in 7 days',
  text: 'The certificate <api.example.com> & friends expires on 2026-12-13.',
  certificate: { id: 'mc-api', commonName: 'api.example.com', notAfter: new Date('2026-12-13T00:00:00Z') },
  dedupKey: 'expiry:mc-api:7',
};

/** Answers 400 listing the problems, or `ok` when there are none. */
function checked(problems: (string | false)[], ok: Answer): Answer {
  const list = problems.filter((p): p is string => p !== false);
  return list.length ? { status: 400, body: { problems: list } } : ok;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const jsonRequest = (r: Received) =>
  [
    r.method !== 'POST' && `method ${r.method}`,
    !String(r.headers['content-type']).startsWith('application/json') && 'content-type is not JSON',
    !isObject(r.json) && 'body is not a JSON object',
  ] as (string | false)[];

let receivers: TestReceiver[] = [];
async function receiver(handler: Handler, tls?: { key: string; cert: string }): Promise<TestReceiver> {
  const r = await TestReceiver.start(handler, tls);
  receivers.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(receivers.map((r) => r.stop()));
  receivers = [];
});

/** Resends a recorded request unchanged (or with another body), as an attacker replaying it would. */
function resend(url: string, r: Received, body: Buffer = r.raw): Promise<{ status: number; body: string }> {
  const headers = { ...r.headers, 'content-length': String(body.length) };
  return new Promise((resolve, reject) => {
    const req = request(new URL(r.path, url), { method: r.method, headers }, (res) => {
      let out = '';
      res.on('data', (c: Buffer) => (out += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: out }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('webhook', () => {
  /**
   * The receiver logic docs/operator/notifications.md describes, written independently of
   * our verifier: HMAC-SHA256 over "<timestamp>.<raw body>", constant-time comparison, a
   * 300 s window around the receiver's clock, and delivery ids remembered within the window.
   */
  function webhookReceiver(secret: string): Handler {
    const seen = new Set<string>();
    return (r) => {
      const ts = String(r.headers['x-certctl-timestamp'] ?? '');
      const sig = Buffer.from(String(r.headers['x-certctl-signature'] ?? ''));
      const mac = createHmac('sha256', secret).update(`${ts}.`).update(r.raw).digest('hex');
      const expected = Buffer.from(`v1=${mac}`);
      if (!/^\d+$/.test(ts) || sig.length !== expected.length || !timingSafeEqual(sig, expected)) {
        return { status: 401, body: 'bad signature' };
      }
      if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) return { status: 401, body: 'stale timestamp' };
      const delivery = String(r.headers['x-certctl-delivery'] ?? '');
      if (seen.has(delivery)) return { status: 401, body: 'replayed delivery' };
      seen.add(delivery);
      const b = r.json as Record<string, unknown>;
      const cert = b.certificate as Record<string, unknown> | null;
      return checked(
        [
          ...jsonRequest(r),
          b.id !== delivery && 'id differs from X-Certctl-Delivery',
          b.event !== r.headers['x-certctl-event'] && 'event differs from X-Certctl-Event',
          !['info', 'warning', 'critical'].includes(String(b.severity)) && 'severity',
          typeof b.title !== 'string' && 'title',
          typeof b.text !== 'string' && 'text',
          typeof b.resolved !== 'boolean' && 'resolved',
          Number.isNaN(Date.parse(String(b.occurred_at))) && 'occurred_at',
          cert !== null && (typeof cert.id !== 'string' || typeof cert.common_name !== 'string') && 'certificate',
        ],
        { status: 204 },
      );
    };
  }

  it('POSTs the signed JSON document; the receiver verifies the HMAC and refuses a replay of it', async () => {
    const rx = await receiver(webhookReceiver(WEBHOOK_SECRET));
    const n = notifierFor('webhook', {
      url: `${rx.url}/hooks/certctl`,
      secret: WEBHOOK_SECRET,
      headers: { 'x-team': 'pki' },
    });

    const result = await n.send(expiring);
    expect(result).toMatchObject({ channel: 'webhook', providerId: 'notif-01', status: 204 });
    const got = rx.last();
    expect(got.path).toBe('/hooks/certctl');
    expect(got.headers['x-team']).toBe('pki');
    expect(got.json).toMatchObject({
      id: 'notif-01',
      event: 'expiry_warning',
      severity: 'critical',
      dedup_key: 'expiry:mc-api:7',
      resolved: false,
      certificate: { id: 'mc-api', common_name: 'api.example.com', not_after: '2026-12-13T00:00:00.000Z' },
    });

    // The same bytes again: signature still valid, delivery id already seen.
    expect(await resend(rx.url, got)).toEqual({ status: 401, body: 'replayed delivery' });
    // A changed body under the captured signature.
    const tampered = Buffer.from(got.raw.toString().replace('critical', 'info'));
    expect(await resend(rx.url, got, tampered)).toEqual({ status: 401, body: 'bad signature' });
  });

  it('a delivery signed outside the window is refused by the receiver; the error carries status and reason', async () => {
    const rx = await receiver(webhookReceiver(WEBHOOK_SECRET));
    const tenMinutesAgo = () => new Date(Date.now() - 600_000);
    const n = new WebhookNotifier({ url: rx.url, secret: WEBHOOK_SECRET }, tenMinutesAgo);
    const err = await n.send(expiring).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotifierError);
    expect(err).toMatchObject({ status: 401, retryable: false, message: 'webhook: HTTP 401: stale timestamp' });
  });

  it('a receiver holding another secret refuses the signature', async () => {
    const rx = await receiver(webhookReceiver('another-secret-0123456789abcdef0123'));
    const n = notifierFor('webhook', { url: rx.url, secret: WEBHOOK_SECRET });
    await expect(n.send(expiring)).rejects.toThrow('webhook: HTTP 401: bad signature');
  });

  it('the test action sends a test event and reports success', async () => {
    const rx = await receiver(webhookReceiver(WEBHOOK_SECRET));
    const check = await notifierFor('webhook', { url: rx.url, secret: WEBHOOK_SECRET }).test();
    expect(check).toEqual({ ok: true, message: 'accepted with HTTP 204' });
    expect(rx.last().json).toMatchObject({ event: 'test', severity: 'info', certificate: null });
  });

  it('a receiver that never answers fails the send with a timeout error', async () => {
    const rx = await receiver(() => undefined);
    const n = notifierFor('webhook', { url: rx.url, secret: WEBHOOK_SECRET, timeout_seconds: 1 });
    const err = await n.send(expiring).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotifierError);
    expect(err).toMatchObject({ message: 'webhook: no answer within 1 s', retryable: true });
    expect(rx.received).toHaveLength(1);
  });

  it('a 500 is an error with the status and a bounded excerpt of the body', async () => {
    const rx = await receiver(() => ({ status: 500, body: `upstream broke ${'x'.repeat(5000)}` }));
    const n = notifierFor('webhook', { url: rx.url, secret: WEBHOOK_SECRET });
    const err = (await n.send(expiring).catch((e: unknown) => e)) as NotifierError;
    expect(err).toBeInstanceOf(NotifierError);
    expect(err.status).toBe(500);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/^webhook: HTTP 500: upstream broke x+\.\.\.$/);
    expect(err.message.length).toBeLessThan(400);
  });

  it('over HTTPS the receiver certificate is checked against ca_pem', async () => {
    const tls = await createSelfSignedTlsBundle({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const rx = await receiver(webhookReceiver(WEBHOOK_SECRET), { key: tls.keyPem, cert: tls.certPem });
    expect(rx.url).toMatch(/^https:/);
    const trusted = notifierFor('webhook', { url: rx.url, secret: WEBHOOK_SECRET, ca_pem: tls.caCertPem });
    await expect(trusted.send(expiring)).resolves.toMatchObject({ status: 204 });
    const untrusted = notifierFor('webhook', { url: rx.url, secret: WEBHOOK_SECRET });
    await expect(untrusted.send(expiring)).rejects.toThrow(/^webhook: request failed: .*certificate/);
    expect(rx.received).toHaveLength(1);
  });

  it('reads a bounded response: an oversized answer is an error, not a buffer', async () => {
    const rx = await receiver(() => ({ status: 200, body: 'y'.repeat(1024 * 1024) }));
    const n = notifierFor('webhook', { url: rx.url, secret: WEBHOOK_SECRET });
    await expect(n.send(expiring)).rejects.toThrow('webhook: request failed: response larger than 262144 bytes');
  });

  it('a refused connection is a retryable error without the secret', async () => {
    const rx = await receiver(() => ({ status: 204 }));
    await rx.stop();
    receivers = receivers.filter((r) => r !== rx);
    const err = (await notifierFor('webhook', { url: rx.url, secret: WEBHOOK_SECRET })
      .send(expiring)
      .catch((e: unknown) => e)) as NotifierError;
    expect(err.message).toMatch(/^webhook: request failed: .*ECONNREFUSED/);
    expect(err.retryable).toBe(true);
  });
});

describe('slack', () => {
  const slackRx: Handler = (r) => {
    const b = r.json as Record<string, unknown>;
    const blocks = (Array.isArray(b?.blocks) ? b.blocks : []) as { type?: unknown; text?: { type?: unknown } }[];
    return checked(
      [
        ...jsonRequest(r),
        r.path !== '/services/T000/B000/XXXXXXXXXXXXXXXX' && 'path',
        typeof b?.text !== 'string' && 'text (fallback) missing',
        blocks[0]?.type !== 'header' && 'first block is not a header',
        blocks[0]?.text?.type !== 'plain_text' && 'header text is not plain_text',
        blocks[1]?.type !== 'section' && 'second block is not a section',
        blocks[1]?.text?.type !== 'mrkdwn' && 'section text is not mrkdwn',
        blocks[2]?.type !== 'context' && 'third block is not a context',
        // Legacy webhooks: an override channel (#name or ID) and a poster name.
        'channel' in b && !/^(#\S{1,80}|[CGD][A-Z0-9]+)$/.test(String(b.channel)) && 'channel',
        'username' in b && (typeof b.username !== 'string' || b.username.length > 80) && 'username',
      ],
      { status: 200, body: 'ok' },
    );
  };

  it('posts a Block Kit message with escaped text and the certificate facts', async () => {
    const rx = await receiver(slackRx);
    const n = notifierFor('slack', { webhook_url: `${rx.url}/services/T000/B000/XXXXXXXXXXXXXXXX` });
    await expect(n.send(expiring)).resolves.toMatchObject({ channel: 'slack', status: 200 });
    const body = rx.last().json as {
      text: string;
      blocks: { text?: { text: string }; elements?: { text: string }[] }[];
    };
    expect(body.text).toBe('api.example.com expires in 7 days');
    expect(body.blocks[1].text?.text).toBe(
      ':rotating_light: The certificate &lt;api.example.com&gt; &amp; friends expires on 2026-12-13.',
    );
    expect(body.blocks[2].elements?.map((e) => e.text)).toEqual([
      '*Severity:* critical',
      '*Event:* expiry_warning',
      '*Certificate:* api.example.com',
      '*Certificate ID:* mc-api',
      '*Expires:* 2026-12-13T00:00:00.000Z',
    ]);
  });

  it('sends channel and username only when configured (legacy webhooks honour them)', async () => {
    const rx = await receiver(slackRx);
    const url = `${rx.url}/services/T000/B000/XXXXXXXXXXXXXXXX`;
    await notifierFor('slack', { webhook_url: url }).send(expiring);
    expect(rx.last().json).not.toHaveProperty('channel');
    expect(rx.last().json).not.toHaveProperty('username');

    const n = notifierFor('slack', { webhook_url: url, channel: '#pki-alerts', username: 'certctl prod' });
    await expect(n.send(expiring)).resolves.toMatchObject({ status: 200 });
    expect(rx.last().json).toMatchObject({
      channel: '#pki-alerts',
      username: 'certctl prod',
      text: 'api.example.com expires in 7 days',
    });
    await expect(n.test()).resolves.toEqual({ ok: true, message: 'accepted with HTTP 200' });
    expect(rx.last().json).toMatchObject({ channel: '#pki-alerts', username: 'certctl prod' });

    await notifierFor('slack', { webhook_url: url, channel: 'C0123456789' }).send(expiring);
    expect(rx.last().json).toMatchObject({ channel: 'C0123456789' });
    expect(rx.last().json).not.toHaveProperty('username');
  });

  it('refuses a malformed channel or username before any request', async () => {
    const rx = await receiver(slackRx);
    const url = `${rx.url}/services/T000/B000/XXXXXXXXXXXXXXXX`;
    expect(() => notifierFor('slack', { webhook_url: url, channel: 'pki-alerts' })).toThrow(/config\.channel: /);
    expect(() => notifierFor('slack', { webhook_url: url, username: 'u'.repeat(81) })).toThrow(/config\.username: /);
    expect(rx.received).toHaveLength(0);
  });

  it('an error never shows the webhook URL (it is the credential), even when the body echoes it', async () => {
    const rx = await receiver((r) => ({ status: 404, body: `no_service for ${r.path}` }));
    const err = (await notifierFor('slack', { webhook_url: `${rx.url}/services/T000/B000/XXXXXXXXXXXXXXXX` })
      .send(expiring)
      .catch((e: unknown) => e)) as NotifierError;
    expect(err.message).toBe('slack: HTTP 404: no_service for [REDACTED]');
    expect(err.retryable).toBe(false);
  });
});

describe('teams', () => {
  const teamsRx: Handler = (r) => {
    const b = r.json as Record<string, unknown>;
    const att = (Array.isArray(b?.attachments) ? b.attachments[0] : undefined) as Record<string, unknown> | undefined;
    const card = att?.content as Record<string, unknown> | undefined;
    const body = (Array.isArray(card?.body) ? card.body : []) as Record<string, unknown>[];
    return checked(
      [
        ...jsonRequest(r),
        !r.path.includes('sig=') && 'workflow signature missing from the URL',
        b?.type !== 'message' && 'type is not message',
        att?.contentType !== 'application/vnd.microsoft.card.adaptive' && 'attachment is not an Adaptive Card',
        card?.type !== 'AdaptiveCard' && 'content.type is not AdaptiveCard',
        typeof card?.version !== 'string' && 'card version missing',
        !body.some((e) => e.type === 'TextBlock') && 'no TextBlock',
        !body.some((e) => e.type === 'FactSet') && 'no FactSet',
      ],
      { status: 202 },
    );
  };

  it('posts an Adaptive Card to the workflow URL', async () => {
    const rx = await receiver(teamsRx);
    const n = notifierFor('teams', {
      webhook_url: `${rx.url}/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=SIGSIGSIGSIG`,
    });
    await expect(n.send({ ...expiring, resolve: true })).resolves.toMatchObject({ channel: 'teams', status: 202 });
    const card = (rx.last().json as { attachments: { content: { body: Record<string, unknown>[] } }[] }).attachments[0]
      .content;
    expect(card.body[0]).toMatchObject({
      type: 'TextBlock',
      text: '[resolved] api.example.com expires in 7 days',
      color: 'Good',
    });
    expect(card.body[2]).toMatchObject({
      type: 'FactSet',
      facts: expect.arrayContaining([{ title: 'Certificate', value: 'api.example.com' }]),
    });
  });
});

describe('pagerduty', () => {
  const triggers = new Map<string, number>();
  const pdRx: Handler = (r) => {
    const b = r.json as Record<string, unknown>;
    const p = b?.payload as Record<string, unknown> | undefined;
    const action = b?.event_action;
    const problems = checked(
      [
        ...jsonRequest(r),
        r.path !== '/v2/enqueue' && `path ${r.path}`,
        b?.routing_key !== ROUTING_KEY && 'routing_key',
        !['trigger', 'resolve'].includes(String(action)) && 'event_action',
        action === 'resolve' && typeof b.dedup_key !== 'string' && 'resolve without dedup_key',
        action === 'trigger' &&
          (typeof p?.summary !== 'string' || String(p.summary).length > 1024) &&
          'payload.summary',
        action === 'trigger' && typeof p?.source !== 'string' && 'payload.source',
        action === 'trigger' &&
          !['critical', 'error', 'warning', 'info'].includes(String(p?.severity)) &&
          'payload.severity',
      ],
      { status: 202 },
    );
    if (problems.status !== 202) return problems;
    const key = typeof b.dedup_key === 'string' ? b.dedup_key : 'generated-key';
    triggers.set(key, (triggers.get(key) ?? 0) + (action === 'trigger' ? 1 : -1));
    return { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: key } };
  };

  it('triggers with dedup_key and payload, then resolves by the same key', async () => {
    const rx = await receiver(pdRx);
    const n = notifierFor('pagerduty', { routing_key: ROUTING_KEY, api_url: rx.url, source: 'certctl-prod' });
    await expect(n.send(expiring)).resolves.toMatchObject({ providerId: 'expiry:mc-api:7', status: 202 });
    expect(rx.last().json).toMatchObject({
      event_action: 'trigger',
      dedup_key: 'expiry:mc-api:7',
      payload: { severity: 'critical', source: 'certctl-prod', class: 'expiry_warning', component: 'api.example.com' },
    });
    await n.send({ ...expiring, resolve: true });
    expect(rx.last().json).toEqual({ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: 'expiry:mc-api:7' });
    expect(triggers.get('expiry:mc-api:7')).toBe(0);
  });

  it('min_severity raises less severe events to it and leaves more severe ones alone', async () => {
    const rx = await receiver(pdRx);
    const sent = async (min_severity: string | undefined, severity: NotificationMessage['severity']) => {
      const n = notifierFor('pagerduty', { routing_key: ROUTING_KEY, api_url: rx.url, min_severity });
      await n.send({ ...expiring, severity });
      const b = rx.last().json as { payload: { severity: string; custom_details: Record<string, string> } };
      return [b.payload.severity, b.payload.custom_details.Severity];
    };
    // Without a floor the event's own severity; with one, the higher of the two.
    expect(await sent(undefined, 'info')).toEqual(['info', 'info']);
    expect(await sent('warning', 'info')).toEqual(['warning', 'info']);
    expect(await sent('error', 'info')).toEqual(['error', 'info']);
    expect(await sent('error', 'warning')).toEqual(['error', 'warning']);
    expect(await sent('error', 'critical')).toEqual(['critical', 'critical']);
    expect(await sent('critical', 'info')).toEqual(['critical', 'info']);
    expect(await sent('info', 'warning')).toEqual(['warning', 'warning']);
    // A resolve carries no severity.
    await notifierFor('pagerduty', { routing_key: ROUTING_KEY, api_url: rx.url, min_severity: 'critical' }).send({
      ...expiring,
      resolve: true,
    });
    expect(rx.last().json).toEqual({ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: 'expiry:mc-api:7' });
  });

  it('the test action opens and resolves one test incident', async () => {
    const rx = await receiver(pdRx);
    const check = await notifierFor('pagerduty', { routing_key: ROUTING_KEY, api_url: rx.url }).test();
    expect(check.ok).toBe(true);
    expect(rx.received.map((r) => (r.json as { event_action: string }).event_action)).toEqual(['trigger', 'resolve']);
  });

  it('a resolve without a dedup key is refused before any request', async () => {
    const rx = await receiver(pdRx);
    const n = notifierFor('pagerduty', { routing_key: ROUTING_KEY, api_url: rx.url });
    await expect(n.send({ ...expiring, dedupKey: undefined, resolve: true })).rejects.toThrow(/needs the dedup key/);
    expect(rx.received).toHaveLength(0);
  });

  it('a 500 is a retryable error with the status; the routing key never appears in it', async () => {
    const rx = await receiver((r) => ({ status: 500, body: `internal error for ${r.raw.toString()}` }));
    const err = (await notifierFor('pagerduty', { routing_key: ROUTING_KEY, api_url: rx.url })
      .send(expiring)
      .catch((e: unknown) => e)) as NotifierError;
    expect(err).toMatchObject({ status: 500, retryable: true });
    expect(err.message).toMatch(/^pagerduty: HTTP 500: internal error for /);
    expect(err.message).not.toContain(ROUTING_KEY);
  });
});

describe('opsgenie', () => {
  const ogRx: Handler = (r) => {
    const b = r.json as Record<string, unknown>;
    const close = /^\/v2\/alerts\/[^/]+\/close\?identifierType=alias$/.test(r.path);
    return checked(
      [
        ...jsonRequest(r),
        r.headers.authorization !== `GenieKey ${GENIE_KEY}` && 'Authorization is not GenieKey <key>',
        !close && r.path !== '/v2/alerts' && `path ${r.path}`,
        !close && (typeof b?.message !== 'string' || String(b.message).length > 130) && 'message',
        !close && typeof b?.alias !== 'string' && 'alias',
        !close && !/^P[1-5]$/.test(String(b?.priority)) && 'priority',
      ],
      { status: 202, body: { result: 'Request will be processed', took: 0.01, requestId: `req-${r.path.length}` } },
    );
  };

  it('creates an alert with alias and priority, then closes it by alias', async () => {
    const rx = await receiver(ogRx);
    const n = notifierFor('opsgenie', { api_key: GENIE_KEY, api_url: rx.url, team: 'pki', tags: ['tls'] });
    await expect(n.send(expiring)).resolves.toMatchObject({ channel: 'opsgenie', status: 202, providerId: 'req-10' });
    expect(rx.last().json).toMatchObject({
      message: 'api.example.com expires in 7 days',
      alias: 'expiry:mc-api:7',
      priority: 'P1',
      source: 'certctl',
      tags: ['tls', 'event:expiry_warning'],
      responders: [{ type: 'team', name: 'pki' }],
    });
    await n.send({ ...expiring, resolve: true });
    expect(rx.last().path).toBe('/v2/alerts/expiry%3Amc-api%3A7/close?identifierType=alias');
  });

  it('min_priority raises less urgent alerts to it and leaves more urgent ones alone', async () => {
    const rx = await receiver(ogRx);
    const sent = async (min_priority: string | undefined, severity: NotificationMessage['severity']) => {
      await notifierFor('opsgenie', { api_key: GENIE_KEY, api_url: rx.url, min_priority }).send({
        ...expiring,
        severity,
      });
      return (rx.last().json as { priority: string }).priority;
    };
    expect([
      await sent(undefined, 'info'),
      await sent(undefined, 'warning'),
      await sent(undefined, 'critical'),
    ]).toEqual(['P5', 'P3', 'P1']);
    expect([await sent('P2', 'info'), await sent('P2', 'warning'), await sent('P2', 'critical')]).toEqual([
      'P2',
      'P2',
      'P1',
    ]);
    expect([await sent('P4', 'info'), await sent('P4', 'warning')]).toEqual(['P4', 'P3']);
    expect(await sent('P1', 'info')).toBe('P1');
    expect(await sent('P5', 'warning')).toBe('P3');
  });

  it('the API key never appears in an error, even when the body echoes the header', async () => {
    const rx = await receiver((r) => ({
      status: 401,
      body: { message: `Key ${String(r.headers.authorization)} invalid` },
    }));
    const err = (await notifierFor('opsgenie', { api_key: GENIE_KEY, api_url: rx.url })
      .send(expiring)
      .catch((e: unknown) => e)) as NotifierError;
    expect(err.message).toBe('opsgenie: HTTP 401: {"message":"Key GenieKey [REDACTED] invalid"}');
    expect(err.retryable).toBe(false);
  });
});
