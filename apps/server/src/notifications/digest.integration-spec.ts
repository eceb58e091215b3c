import { randomBytes } from 'node:crypto';
import {
  createPrivateDatabase,
  createTestApp,
  eventually,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { LoopRegistry } from '../scheduler/loop-registry';
import { DIGEST_LOOP, DigestLoop } from './digest.service';
import { startSmtpSink } from './notification-testing';

/** The decoded body of one MIME part of a raw message (nodemailer writes quoted-printable or base64). */
function mimePart(raw: string, type: string): string {
  const boundary = /boundary="?([^";\r\n]+)"?/.exec(raw)?.[1];
  if (!boundary) throw new Error(`not multipart:\n${raw}`);
  for (const part of raw.split(`--${boundary}`).slice(1, -1)) {
    const [head, ...rest] = part.replace(/^\r\n/, '').split('\r\n\r\n');
    if ((/content-type:\s*([^;\r\n]+)/i.exec(head)?.[1] ?? '') !== type) continue;
    const body = rest.join('\r\n\r\n');
    const encoding = /content-transfer-encoding:\s*(\S+)/i.exec(head)?.[1]?.toLowerCase();
    if (encoding === 'base64') return Buffer.from(body, 'base64').toString('utf8');
    if (encoding === 'quoted-printable')
      return Buffer.from(
        body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
        'latin1',
      ).toString('utf8');
    return body;
  }
  throw new Error(`no ${type} part`);
}

/** A header value with folded lines joined. */
const header = (raw: string, name: string) =>
  new RegExp(`^${name}: (.*(?:\\r\\n[ \\t].*)*)`, 'mi').exec(raw)?.[1].replace(/\r\n[ \t]+/g, ' ');

/**
 * The digest against real Postgres, Redis and an SMTP sink on loopback: rows are inserted the
 * way the inventory, jobs, approvals and delivery code write them; the loop is driven by
 * calling its tick with a later clock, never by waiting for the interval.
 */

describe('digest', () => {
  const tag = randomBytes(4).toString('hex');
  const id = (name: string) => `${name}-dg-${tag}`;
  const evil = `<b onmouseover="x">evil-${tag}</b>`;
  let smtp: Awaited<ReturnType<typeof startSmtpSink>>;
  let db: PrivateDatabase;
  let t: TestApp;
  let bare: TestApp | undefined;
  let operator: string;
  let viewer: string;
  const ownerA = `owner-a-${tag}@example.com`;
  const ownerB = `owner-b-${tag}@example.com`;
  const DAY = 86_400_000;

  beforeAll(async () => {
    smtp = await startSmtpSink();
    db = await createPrivateDatabase('digest');
    t = await createTestApp({
      ...db.env,
      ...smtp.env,
      CERTCTL_DIGEST_ENABLED: 'true',
      CERTCTL_DIGEST_INTERVAL: '1h',
      CERTCTL_SCHEDULER_NOTIFICATION_PROCESS_INTERVAL: '1h',
    });
    operator = `Bearer ${(await t.mintKey(['operator'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;

    const q = (sql: string, params: unknown[]) => t.ds.query(sql, params);
    await q(`INSERT INTO owners (id, name, email) VALUES ($1, 'A', $2), ($3, 'B', $4)`, [
      id('own-a'),
      ownerA,
      id('own-b'),
      ownerB,
    ]);
    const cert = (name: string, cn: string, days: number, owner: string | null, status = 'Active') =>
      q(
        `INSERT INTO managed_certificates (id, name, common_name, owner_id, status, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))`,
        [id(name), name === 'crit' ? evil : `${name}-${tag}`, cn, owner, status, (days * DAY) / 1000],
      );
    await cert('crit', `crit-${tag}.example.com`, 3, id('own-a'));
    await cert('warn', `warn-${tag}.example.com`, 20, id('own-b'));
    await cert('far', `far-${tag}.example.com`, 100, id('own-a'));
    await cert('gone', `gone-${tag}.example.com`, -1, null, 'Expired');
    await cert('revoked', `revoked-${tag}.example.com`, 2, id('own-b'), 'Revoked');
    await q(
      `INSERT INTO jobs (id, type, certificate_id, status, last_error) VALUES
         ($1, 'Renewal', $2, 'Failed', $3), ($4, 'Issuance', $2, 'AwaitingApproval', NULL)`,
      [id('job-failed'), id('warn'), `CA answered <500> for ${tag}`, id('job-wait')],
    );
    await q(
      `INSERT INTO approval_requests (id, kind, certificate_id, job_id, requested_by, requested_by_type)
       VALUES ($1, 'cert_issuance', $2, $3, $4, 'ApiKey')`,
      [id('apr'), id('warn'), id('job-wait'), `requester-${tag}`],
    );
    await q(
      `INSERT INTO notification_events (id, type, certificate_id, channel, recipient, message, severity, status,
                                        retry_count, last_error, routed_at, dedup_key)
       VALUES ($1, 'ExpirationWarning', $2, 'webhook', '', 'm', 'warning', 'dead', 5, $3, now(), $1)`,
      [id('notif-dead'), id('crit'), `webhook: HTTP 500 <${tag}>`],
    );
  });

  afterAll(async () => {
    await smtp?.close();
    await bare?.close();
    await t?.close();
    await db?.drop();
  });

  // The app's renewal check also smtp.mails the owners (expiry warnings): pick the digests out.
  const isDigest = (m: { raw: string }) => header(m.raw, 'X-Certctl-Event') === 'digest';
  const preview = (query: string, auth = viewer) =>
    t.http.get(`/api/v1/digest/preview${query}`).set('Authorization', auth).buffer(true);
  const section = (html: string, name: string) =>
    new RegExp(`<section id="${name}">([\\s\\S]*?)</section>`).exec(html)?.[1] ?? '';

  it('previews the digest as HTML, grouped by urgency, with every listed value escaped', async () => {
    const res = await preview('');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html; charset=utf-8/);
    const html = res.text;
    expect(section(html, 'certificates-expired')).toContain(`gone-${tag}.example.com`);
    expect(section(html, 'certificates-critical')).toContain(`crit-${tag}.example.com`);
    expect(section(html, 'certificates-critical')).toContain(ownerA);
    expect(section(html, 'certificates-warning')).toContain(`warn-${tag}.example.com`);
    expect(html).not.toContain(`far-${tag}`);
    expect(html).not.toContain(`revoked-${tag}`);
    expect(section(html, 'failed-jobs')).toContain(`CA answered &lt;500&gt; for ${tag}`);
    expect(section(html, 'dead-notifications')).toContain(`webhook: HTTP 500 &lt;${tag}&gt;`);
    expect(section(html, 'pending-approvals')).toContain(`requester-${tag}`);
    expect(section(html, 'pending-approvals')).toContain(`warn-${tag}.example.com`);
    expect(html).toContain(`&lt;b onmouseover=&quot;x&quot;&gt;evil-${tag}&lt;/b&gt;`);
    expect(html).not.toContain(`<b onmouseover`);
  });

  it('widens the window with days and names a bad days value', async () => {
    expect(section((await preview('?days=120')).text, 'certificates-upcoming')).toContain(`far-${tag}.example.com`);
    for (const bad of ['0', '366', 'soon']) {
      const res = await preview(`?days=${bad}`);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body.message).toMatch(/days/);
    }
  });

  it('needs digest.read to preview and digest.send to send', async () => {
    expect((await t.http.get('/api/v1/digest/preview')).status).toBe(401);
    expect((await t.http.post('/api/v1/digest/send').set('Authorization', viewer)).status).toBe(403);
  });

  it('emails the digest to the owners of the listed certificates, HTML and text, and audits it', async () => {
    const before = smtp.mails.length;
    const res = await t.http.post('/api/v1/digest/send').set('Authorization', operator);
    expect(res.status).toBe(200);
    expect(res.body.recipients).toEqual(expect.arrayContaining([ownerA, ownerB]));
    expect(res.body.recipients).toEqual([...new Set(res.body.recipients as string[])]);
    expect(res.body.pending_approvals).toBeGreaterThanOrEqual(1);
    const mail = await eventually(async () => smtp.mails.slice(before).find(isDigest));
    expect(mail.to).toEqual(res.body.recipients);
    expect(header(mail.raw, 'Subject')).toBe(`[certctl] ${res.body.subject as string}`);
    expect(header(mail.raw, 'X-Certctl-Event')).toBe('digest');
    const html = mimePart(mail.raw, 'text/html');
    expect(html).toContain(`&lt;b onmouseover=&quot;x&quot;&gt;evil-${tag}&lt;/b&gt;`);
    expect(html).not.toContain('<b onmouseover');
    expect(section(html, 'certificates-critical')).toContain(`crit-${tag}.example.com`);
    expect(mimePart(mail.raw, 'text/plain')).toContain(`Failed jobs (`);
    expect(mimePart(mail.raw, 'text/plain')).toContain(`CA answered <500> for ${tag}`);
    const audit = await t.ds.query(
      `SELECT actor_type, details FROM audit_events WHERE action = 'digest_sent' AND details->>'sent_at' = $1`,
      [res.body.sent_at],
    );
    expect(audit).toEqual([{ actor_type: 'ApiKey', details: expect.objectContaining({ subject: res.body.subject }) }]);
  });

  it('sends from the loop only on a tick after startup, not twice within one interval', async () => {
    const loop = t.app.get(DigestLoop);
    expect(t.app.get(LoopRegistry).get(DIGEST_LOOP)?.everyMs).toBe(3_600_000);
    expect(await loop.tick()).toBe('skipped-startup');
    const before = smtp.mails.length;
    const later = Date.now() + 2 * 3_600_000;
    expect(await loop.tick(later)).toBe('sent');
    const mail = await eventually(async () => smtp.mails.slice(before).find(isDigest));
    expect(header(mail.raw, 'X-Certctl-Event')).toBe('digest');
    expect(await loop.tick(later + 60_000)).toBe('skipped-recent');
    expect(await loop.tick(later + 3_600_000)).toBe('sent');
    const audit = await t.ds.query(
      `SELECT count(*)::int AS n FROM audit_events WHERE action = 'digest_sent' AND actor = 'digest-scheduler'`,
      [],
    );
    expect(audit[0].n).toBeGreaterThanOrEqual(2);
  });

  it('answers 409 naming the missing setting when email is not configured, and has no loop unless enabled', async () => {
    bare = await createTestApp({ ...db.env, CERTCTL_SCHEDULER_NOTIFICATION_PROCESS_INTERVAL: '1h' });
    const key = `Bearer ${(await bare.mintKey(['operator'])).key}`;
    const res = await bare.http.post('/api/v1/digest/send').set('Authorization', key);
    expect(res.status).toBe(409);
    expect(res.body.message).toMatch(/email is not configured: set CERTCTL_SMTP_HOST/);
    expect(bare.app.get(LoopRegistry).get(DIGEST_LOOP)).toBeUndefined();
    // The preview needs no email channel.
    expect((await bare.http.get('/api/v1/digest/preview').set('Authorization', key)).status).toBe(200);
  });
});
