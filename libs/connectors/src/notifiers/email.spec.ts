import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { createSelfSignedTlsBundle, type TlsBundle } from '@certctl/pki';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { NotifierError, type NotificationMessage } from './notifier-port';
import { notifierFor } from './registry';

/*
 * The email channel against the `smtp-server` package on 127.0.0.1: STARTTLS (or implicit
 * TLS) with a certificate from our own TLS CA, AUTH required, and the raw message kept so the
 * test reads recipients, subject and both bodies as they arrived.
 */

const USER = 'certctl';
const PASS = 'smtp-pass-0123456789';

interface Delivered {
  from: string;
  to: string[];
  /** TLS was in place when the message was sent (STARTTLS done, or implicit TLS). */
  secure: boolean;
  user: string | undefined;
  raw: string;
}

interface Smtp {
  port: number;
  delivered: Delivered[];
  stop(): Promise<void>;
}

let tls: TlsBundle;
beforeAll(async () => {
  tls = await createSelfSignedTlsBundle({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
});

async function startSmtp(extra: Partial<SMTPServerOptions> = {}): Promise<Smtp> {
  const delivered: Delivered[] = [];
  const server = new SMTPServer({
    key: tls.keyPem,
    cert: tls.certPem,
    authMethods: ['PLAIN', 'LOGIN'],
    // Credentials only over TLS (the default), like a real submission server.
    allowInsecureAuth: false,
    authOptional: false,
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === USER && auth.password === PASS) cb(null, { user: auth.username });
      else cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session: SMTPServerSession, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        delivered.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          secure: session.secure,
          user: typeof session.user === 'string' ? session.user : undefined,
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        cb();
      });
    },
    ...extra,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, delivered, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Splits a multipart body into its parts: content type and decoded-enough (7bit) text. */
function parts(raw: string): { type: string; body: string }[] {
  const boundary = /boundary="?([^";\r\n]+)"?/.exec(raw)?.[1];
  if (!boundary) throw new Error(`not multipart:\n${raw}`);
  return raw
    .split(`--${boundary}`)
    .slice(1, -1)
    .map((p) => {
      const [head, ...rest] = p.replace(/^\r\n/, '').split('\r\n\r\n');
      return { type: /content-type:\s*([^;\r\n]+)/i.exec(head)?.[1] ?? '', body: rest.join('\r\n\r\n').trim() };
    });
}

const header = (raw: string, name: string) => new RegExp(`^${name}: (.*)$`, 'mi').exec(raw)?.[1];

const message: NotificationMessage = {
  event: 'renewal_failed',
  severity: 'critical',
  title: 'Renewal of api.example.com failed',
  text: 'The renewal of api.example.com failed: CA unreachable.',
  html: '<p>The renewal of <b>api.example.com</b> failed: CA unreachable.</p>',
  certificate: { id: 'mc-api', commonName: 'api.example.com' },
  recipients: ['owner@example.com', 'team-pki@example.com'],
};

function emailConfig(port: number, extra: Record<string, unknown> = {}) {
  return {
    host: '127.0.0.1',
    port,
    username: USER,
    password: PASS,
    from: 'certctl@example.com',
    to: ['fallback@example.com'],
    ca_pem: tls.caCertPem,
    ...extra,
  };
}

let servers: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});
async function smtp(extra?: Partial<SMTPServerOptions>): Promise<Smtp> {
  const s = await startSmtp(extra);
  servers.push(s);
  return s;
}

describe('email', () => {
  it('delivers over STARTTLS with AUTH: recipients, subject, text and HTML bodies arrive', async () => {
    const s = await smtp();
    const result = await notifierFor('email', emailConfig(s.port)).send(message);
    expect(result).toMatchObject({ channel: 'email', detail: 'accepted for 2 of 2 recipient(s)' });
    expect(result.providerId).toMatch(/^<.+@.+>$/);

    expect(s.delivered).toHaveLength(1);
    const d = s.delivered[0];
    expect(d).toMatchObject({ from: 'certctl@example.com', to: ['owner@example.com', 'team-pki@example.com'] });
    expect(d.secure).toBe(true);
    expect(d.user).toBe(USER);
    expect(header(d.raw, 'Subject')).toBe('[certctl] Renewal of api.example.com failed');
    expect(header(d.raw, 'To')).toBe('owner@example.com, team-pki@example.com');
    expect(header(d.raw, 'X-Certctl-Event')).toBe('renewal_failed');
    expect(header(d.raw, 'Content-Type')).toMatch(/^multipart\/alternative;/);
    expect(parts(d.raw)).toEqual([
      { type: 'text/plain', body: 'The renewal of api.example.com failed: CA unreachable.' },
      { type: 'text/html', body: '<p>The renewal of <b>api.example.com</b> failed: CA unreachable.</p>' },
    ]);
  });

  it('delivers over implicit TLS; without per-message recipients the channel "to" list is used', async () => {
    const s = await smtp({ secure: true });
    await notifierFor('email', emailConfig(s.port, { security: 'tls' })).send({
      ...message,
      recipients: undefined,
      resolve: true,
    });
    expect(s.delivered[0]).toMatchObject({ to: ['fallback@example.com'], secure: true });
    expect(header(s.delivered[0].raw, 'Subject')).toBe('[certctl] [resolved] Renewal of api.example.com failed');
  });

  it('refuses to send when the server cannot do STARTTLS (no password in clear)', async () => {
    const s = await smtp({ disabledCommands: ['STARTTLS'], allowInsecureAuth: true });
    const err = await notifierFor('email', emailConfig(s.port))
      .send(message)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotifierError);
    expect((err as Error).message).toMatch(/^email: .*STARTTLS/);
    expect(s.delivered).toHaveLength(0);
  });

  it('refuses a server certificate from a CA it was not given', async () => {
    const s = await smtp();
    const other = await createSelfSignedTlsBundle({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const err = await notifierFor('email', emailConfig(s.port, { ca_pem: other.caCertPem }))
      .send(message)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotifierError);
    expect((err as Error).message).toMatch(/certificate/i);
    expect(s.delivered).toHaveLength(0);
  });

  it('a refused login is a permanent error that does not contain the password', async () => {
    const s = await smtp();
    const err = (await notifierFor('email', emailConfig(s.port, { password: 'wrong-password-123' }))
      .send(message)
      .catch((e: unknown) => e)) as NotifierError;
    expect(err).toBeInstanceOf(NotifierError);
    expect(err).toMatchObject({ status: 535, retryable: false });
    expect(err.message).toMatch(/^email: .*535/);
    expect(err.message).not.toContain('wrong-password-123');
  });

  it('a server that accepts the connection and never greets fails with a timeout error', async () => {
    const sockets: Socket[] = [];
    const silent: TcpServer = createTcpServer((sock) => sockets.push(sock));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    servers.push({
      stop: () => {
        sockets.forEach((s) => s.destroy());
        return new Promise((resolve) => silent.close(() => resolve()));
      },
    });
    const port = (silent.address() as AddressInfo).port;
    const err = await notifierFor('email', emailConfig(port, { timeout_seconds: 1 }))
      .send(message)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotifierError);
    expect(err).toMatchObject({ retryable: true });
    expect((err as Error).message).toMatch(/^email: no answer within 1 s/);
  });

  it('the test action sends a test message to "to"; without "to" it checks TLS and login only', async () => {
    const s = await smtp();
    await expect(notifierFor('email', emailConfig(s.port)).test()).resolves.toMatchObject({ ok: true });
    expect(s.delivered.map((d) => d.to)).toEqual([['fallback@example.com']]);
    expect(header(s.delivered[0].raw, 'Subject')).toBe('[certctl] certctl test notification');

    const verify = await notifierFor('email', emailConfig(s.port, { to: undefined })).test();
    expect(verify).toEqual({
      ok: true,
      message: 'connected, TLS and login accepted (no test message: "to" is not set)',
    });
    expect(s.delivered).toHaveLength(1);

    const bad = await notifierFor('email', emailConfig(s.port, { to: undefined, password: 'nope-nope' })).test();
    expect(bad.ok).toBe(false);
  });
});
