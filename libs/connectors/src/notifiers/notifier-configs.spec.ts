import { DomainError } from '@certctl/domain';
import { NOTIFIER_TYPES } from './notifier-port';
import { notifierConfigSpec, notifierFor, validateNotifierConfig } from './registry';
import { signWebhook, verifyWebhookSignature } from './webhook';

const SECRET = 'whsec-0123456789abcdef0123456789abcdef';

const issues = (type: Parameters<typeof validateNotifierConfig>[0], config: unknown): string[] => {
  const r = validateNotifierConfig(type, config);
  return r.ok ? [] : r.issues;
};

describe('notifier configs', () => {
  it('marks keys, passwords and token-bearing URLs as secret fields', () => {
    expect(Object.fromEntries(NOTIFIER_TYPES.map((t) => [t, notifierConfigSpec(t).secretFields]))).toEqual({
      email: ['password'],
      webhook: ['secret'],
      slack: ['webhook_url'],
      teams: ['webhook_url'],
      pagerduty: ['routing_key'],
      opsgenie: ['api_key'],
    });
  });

  it('email: names each wrong field', () => {
    expect(issues('email', { host: 'smtp example', from: 'nobody', port: 0, security: 'ssl' })).toEqual([
      'config.host: must be a host name or an IP address',
      'config.port: must be between 1 and 65535',
      'config.security: must be one of: starttls, tls, none',
      'config.from: must be an email address',
    ]);
    expect(issues('email', { host: 'smtp.example.com', from: 'a@example.com', username: 'u' })).toEqual([
      'config.password: is required together with username',
    ]);
    expect(
      issues('email', { host: 'relay', from: 'a@example.com', security: 'none', username: 'u', password: 'p' }),
    ).toEqual(['config.username: requires security starttls or tls (credentials are never sent in clear)']);
    expect(issues('email', { host: 'relay', from: 'a@example.com', to: ['x'], ca_pem: 'not a pem' })).toEqual([
      'config.to[0]: must be an email address',
      'config.ca_pem: must be one or more PEM certificates (-----BEGIN CERTIFICATE-----)',
    ]);
    expect(
      issues('email', { host: 'smtp.example.com', port: 587, from: 'a@example.com', to: ['b@example.com'] }),
    ).toEqual([]);
  });

  it('webhook: the secret is required and must be long enough; unknown fields are refused', () => {
    expect(issues('webhook', { url: 'https://hooks.example.com/x' })).toEqual(['config.secret: is required']);
    expect(issues('webhook', { url: 'ftp://x', secret: 'short', verbose: true })).toEqual([
      'config.url: must be an http:// or https:// URL without embedded credentials',
      'config.secret: must be at least 32 characters',
      'config.verbose: unknown field',
    ]);
  });

  it('webhook: extra headers cannot replace the framing or signature headers, nor inject lines', () => {
    const base = { url: 'https://hooks.example.com/x', secret: SECRET };
    const msg =
      'config.headers: names must be letters, digits and -, and not a header certctl sets (content-*, host, x-certctl-*, ...)';
    expect(issues('webhook', { ...base, headers: { 'X-Certctl-Signature': 'v1=00' } })).toEqual([msg]);
    expect(issues('webhook', { ...base, headers: { 'Content-Length': '1' } })).toEqual([msg]);
    expect(issues('webhook', { ...base, headers: { 'x.team': 'pki' } })).toEqual([msg]);
    expect(issues('webhook', { ...base, headers: { 'x-team': 'pki\r\nx-evil: 1' } })).toEqual([
      'config.headers: values must not contain control characters',
    ]);
    expect(issues('webhook', { ...base, headers: { 'x-team': 'pki' } })).toEqual([]);
  });

  it('incident channels: key formats, region vs api_url, timeout bounds', () => {
    expect(issues('pagerduty', { routing_key: 'abc', timeout_seconds: 0 })).toEqual([
      'config.routing_key: must be a 32-character integration key',
      'config.timeout_seconds: must be between 1 and 120',
    ]);
    expect(issues('opsgenie', { api_key: 'k', region: 'eu', api_url: 'https://api.eu.opsgenie.com' })).toEqual([
      'config.api_url: use either region or api_url, not both',
    ]);
    expect(issues('slack', { webhook_url: 'hooks.slack.com/services/x' })).toEqual([
      'config.webhook_url: must be an http:// or https:// URL without embedded credentials',
    ]);
  });

  it('slack: channel is #name or a conversation ID, username a short single line', () => {
    const url = 'https://hooks.slack.com/services/T000/B000/XXXX';
    for (const channel of ['#pki-alerts', '#ops_tls.v2', '#証明書', 'C0123456789', 'G01ABCDEF', 'D0ABCDEF12']) {
      expect({ channel, issues: issues('slack', { webhook_url: url, channel }) }).toEqual({ channel, issues: [] });
    }
    const channelMsg =
      'config.channel: must be a channel name starting with # (e.g. #pki-alerts) or a channel ID (e.g. C0123456789)';
    for (const channel of ['pki-alerts', '#PKI', '#two words', '#', `#${'a'.repeat(81)}`, '@someone', 'c0123456789']) {
      expect({ channel, issues: issues('slack', { webhook_url: url, channel }) }).toEqual({
        channel,
        issues: [channelMsg],
      });
    }
    expect(issues('slack', { webhook_url: url, username: 'certctl bot' })).toEqual([]);
    expect(issues('slack', { webhook_url: url, username: 'x'.repeat(81) })).toEqual([
      'config.username: must be at most 80 characters',
    ]);
    expect(issues('slack', { webhook_url: url, username: 'certctl\nbot' })).toEqual([
      'config.username: must not contain control characters',
    ]);
    expect(issues('slack', { webhook_url: url, username: '   ' })).toEqual(['config.username: must not be empty']);
  });

  it('incident channels: min_severity and min_priority take the provider levels only', () => {
    const pd = { routing_key: 'R0123456789abcdef0123456789abcde' };
    for (const min_severity of ['info', 'warning', 'error', 'critical']) {
      expect(issues('pagerduty', { ...pd, min_severity })).toEqual([]);
    }
    expect(issues('pagerduty', { ...pd, min_severity: 'high' })).toEqual([
      'config.min_severity: must be one of: info, warning, error, critical',
    ]);
    for (const min_priority of ['P1', 'P2', 'P3', 'P4', 'P5']) {
      expect(issues('opsgenie', { api_key: 'k', min_priority })).toEqual([]);
    }
    expect(issues('opsgenie', { api_key: 'k', min_priority: 'P6' })).toEqual([
      'config.min_priority: must be one of: P1, P2, P3, P4, P5',
    ]);
  });

  it('notifierFor: unknown type and invalid config are validation errors that never echo a secret value', () => {
    expect(() => notifierFor('carrier-pigeon', {})).toThrow(
      'unknown notification channel type "carrier-pigeon"; one of: email, webhook, slack, teams, pagerduty, opsgenie',
    );
    let err: unknown;
    try {
      notifierFor('pagerduty', { routing_key: 'secret-but-too-short' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe('validation');
    expect((err as Error).message).toBe(
      'invalid pagerduty channel configuration: config.routing_key: must be a 32-character integration key',
    );
    expect((err as Error).message).not.toContain('secret-but-too-short');
    expect(notifierFor('webhook', { url: 'https://hooks.example.com', secret: SECRET }).type).toBe('webhook');
  });
});

describe('webhook signature verification', () => {
  const body = '{"event":"certificate_revoked"}';
  const now = new Date('2026-12-06T12:00:00Z');
  const ts = Math.floor(now.getTime() / 1000);

  it('accepts a signature over "<timestamp>.<body>" within the tolerance', () => {
    const signature = signWebhook(SECRET, ts - 299, body);
    expect(signature).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(SECRET, { timestamp: String(ts - 299), signature }, body, now)).toEqual({
      ok: true,
      timestamp: ts - 299,
    });
  });

  it('refuses a changed body, a changed timestamp, another secret, a stale or missing timestamp', () => {
    const signature = signWebhook(SECRET, ts, body);
    const v = (t: string | undefined, s: string | undefined, b = body, secret = SECRET) =>
      verifyWebhookSignature(secret, { timestamp: t, signature: s }, b, now);
    expect(v(String(ts), signature, body.replace('revoked', 'renewed'))).toEqual({
      ok: false,
      reason: 'signature mismatch',
    });
    expect(v(String(ts + 1), signature)).toEqual({ ok: false, reason: 'signature mismatch' });
    expect(v(String(ts), signature, body, `${SECRET}x`)).toEqual({ ok: false, reason: 'signature mismatch' });
    const old = String(ts - 301);
    expect(v(old, signWebhook(SECRET, ts - 301, body))).toEqual({ ok: false, reason: 'timestamp outside tolerance' });
    expect(v(undefined, signature)).toEqual({ ok: false, reason: 'missing timestamp' });
    expect(v(String(ts), undefined)).toEqual({ ok: false, reason: 'missing signature' });
  });
});
