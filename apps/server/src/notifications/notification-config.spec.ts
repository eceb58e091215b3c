import { readNotificationConfig } from './notification-config';

describe('notification channels from the environment', () => {
  const read = (env: Record<string, string>) => {
    const problems: string[] = [];
    const config = readNotificationConfig(env, problems);
    return { config, problems };
  };
  const KEY = 'a'.repeat(32);

  it('configures no channel and default intervals from an empty environment', () => {
    expect(read({})).toEqual({
      config: {
        channels: [],
        processIntervalMs: 30_000,
        retryIntervalMs: 60_000,
        concurrency: 8,
        timeoutSeconds: 10,
        digest: { enabled: false, intervalMs: 86_400_000, recipients: [] },
      },
      problems: [],
    });
  });

  it('maps certctl variables onto each adapter config', () => {
    const { config, problems } = read({
      CERTCTL_SMTP_HOST: 'smtp.example.com',
      CERTCTL_SMTP_PORT: '465',
      CERTCTL_SMTP_USERNAME: 'certctl',
      CERTCTL_SMTP_PASSWORD: 'pw',
      CERTCTL_SMTP_FROM_ADDRESS: 'certctl@example.com',
      CERTCTL_SMTP_RECIPIENTS: 'ops@example.com, pki@example.com',
      CERTCTL_WEBHOOK_URL: 'https://hooks.example.com/certctl',
      CERTCTL_WEBHOOK_SECRET: 's'.repeat(32),
      CERTCTL_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/X',
      CERTCTL_TEAMS_WEBHOOK_URL: 'https://prod.example.com/workflows/1?sig=abc',
      CERTCTL_PAGERDUTY_ROUTING_KEY: KEY,
      CERTCTL_PAGERDUTY_API_URL: 'http://127.0.0.1:9000',
      CERTCTL_OPSGENIE_API_KEY: 'og-key',
      CERTCTL_OPSGENIE_API_URL: 'http://127.0.0.1:9001',
      CERTCTL_NOTIFICATION_TIMEOUT: '5s',
      CERTCTL_SCHEDULER_NOTIFICATION_PROCESS_INTERVAL: '10s',
      CERTCTL_NOTIFICATION_RETRY_INTERVAL: '2m',
      CERTCTL_NOTIFICATION_CONCURRENCY: '4',
    });
    expect(problems).toEqual([]);
    expect(config).toMatchObject({
      processIntervalMs: 10_000,
      retryIntervalMs: 120_000,
      concurrency: 4,
      timeoutSeconds: 5,
    });
    expect(Object.fromEntries(config.channels.map((c) => [c.type, c.config]))).toEqual({
      email: {
        host: 'smtp.example.com',
        port: 465,
        security: 'tls',
        username: 'certctl',
        password: 'pw',
        from: 'certctl@example.com',
        to: ['ops@example.com', 'pki@example.com'],
        timeout_seconds: 5,
      },
      webhook: { url: 'https://hooks.example.com/certctl', secret: 's'.repeat(32), timeout_seconds: 5 },
      slack: { webhook_url: 'https://hooks.slack.com/services/T/B/X', timeout_seconds: 5 },
      teams: { webhook_url: 'https://prod.example.com/workflows/1?sig=abc', timeout_seconds: 5 },
      pagerduty: { routing_key: KEY, api_url: 'http://127.0.0.1:9000', timeout_seconds: 5 },
      opsgenie: { api_key: 'og-key', api_url: 'http://127.0.0.1:9001', timeout_seconds: 5 },
    });
  });

  it('reads the Slack channel and poster name and the PagerDuty/OpsGenie floors, in any case', () => {
    const { config, problems } = read({
      CERTCTL_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/X',
      CERTCTL_SLACK_CHANNEL: '#pki-alerts',
      CERTCTL_SLACK_USERNAME: ' certctl prod ',
      CERTCTL_PAGERDUTY_ROUTING_KEY: KEY,
      CERTCTL_PAGERDUTY_SEVERITY: 'Error',
      CERTCTL_OPSGENIE_API_KEY: 'og-key',
      CERTCTL_OPSGENIE_PRIORITY: 'p2',
    });
    expect(problems).toEqual([]);
    expect(Object.fromEntries(config.channels.map((c) => [c.type, c.config]))).toEqual({
      slack: {
        webhook_url: 'https://hooks.slack.com/services/T/B/X',
        channel: '#pki-alerts',
        username: 'certctl prod',
        timeout_seconds: 10,
      },
      pagerduty: { routing_key: KEY, min_severity: 'error', timeout_seconds: 10 },
      opsgenie: { api_key: 'og-key', min_priority: 'P2', timeout_seconds: 10 },
    });
  });

  it('refuses bad Slack, PagerDuty and OpsGenie options naming the variable', () => {
    const base = {
      CERTCTL_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/X',
      CERTCTL_PAGERDUTY_ROUTING_KEY: KEY,
      CERTCTL_OPSGENIE_API_KEY: 'og-key',
    };
    const { config, problems } = read({
      ...base,
      CERTCTL_SLACK_CHANNEL: 'pki alerts',
      CERTCTL_SLACK_USERNAME: 'n'.repeat(81),
      CERTCTL_PAGERDUTY_SEVERITY: 'high',
      CERTCTL_OPSGENIE_PRIORITY: 'P0',
    });
    expect(config.channels).toEqual([]);
    expect(problems).toEqual([
      'CERTCTL_SLACK_CHANNEL: must be a channel name starting with # (e.g. #pki-alerts) or a channel ID (e.g. C0123456789)',
      'CERTCTL_SLACK_USERNAME: must be at most 80 characters',
      'CERTCTL_PAGERDUTY_SEVERITY: must be one of: info, warning, error, critical',
      'CERTCTL_OPSGENIE_PRIORITY: must be one of: P1, P2, P3, P4, P5',
    ]);
    // An option without its channel is a mistake too, not silently ignored.
    expect(
      read({ CERTCTL_SLACK_CHANNEL: '#pki', CERTCTL_PAGERDUTY_SEVERITY: 'info', CERTCTL_OPSGENIE_PRIORITY: 'P3' })
        .problems,
    ).toEqual([
      'CERTCTL_SLACK_CHANNEL: set CERTCTL_SLACK_WEBHOOK_URL too, or unset it',
      'CERTCTL_PAGERDUTY_SEVERITY: set CERTCTL_PAGERDUTY_ROUTING_KEY too, or unset it',
      'CERTCTL_OPSGENIE_PRIORITY: set CERTCTL_OPSGENIE_API_KEY too, or unset it',
    ]);
  });

  it('uses STARTTLS by default and plain SMTP only when CERTCTL_SMTP_USE_TLS is false', () => {
    const base = { CERTCTL_SMTP_HOST: 'relay', CERTCTL_SMTP_FROM_ADDRESS: 'c@example.com' };
    expect(read(base).config.channels[0].config.security).toBe('starttls');
    expect(read({ ...base, CERTCTL_SMTP_USE_TLS: 'false' }).config.channels[0].config.security).toBe('none');
  });

  it('names the variable of every problem, never a secret value', () => {
    const { config, problems } = read({
      CERTCTL_SMTP_HOST: 'relay',
      CERTCTL_SMTP_USERNAME: 'u',
      CERTCTL_SMTP_PASSWORD: 'hunter2-secret',
      CERTCTL_SMTP_USE_TLS: 'maybe',
      CERTCTL_WEBHOOK_URL: 'ftp://example.com',
      CERTCTL_WEBHOOK_SECRET: 'short-secret-value',
      CERTCTL_PAGERDUTY_ROUTING_KEY: 'not-a-key',
      CERTCTL_OPSGENIE_API_URL: 'http://127.0.0.1:9001',
      CERTCTL_NOTIFICATION_TIMEOUT: '10m',
      CERTCTL_NOTIFICATION_CONCURRENCY: '1',
    });
    expect(config.channels).toEqual([]);
    expect(problems).toEqual([
      expect.stringMatching(/^CERTCTL_NOTIFICATION_TIMEOUT must be a duration/),
      'CERTCTL_SMTP_USE_TLS must be true or false, got "maybe"',
      expect.stringMatching(/^CERTCTL_SMTP_FROM_ADDRESS: /),
      expect.stringMatching(/^CERTCTL_WEBHOOK_URL: /),
      expect.stringMatching(/^CERTCTL_WEBHOOK_SECRET: must be at least 32 characters/),
      expect.stringMatching(/^CERTCTL_PAGERDUTY_ROUTING_KEY: must be a 32-character integration key/),
      'CERTCTL_OPSGENIE_API_URL: set CERTCTL_OPSGENIE_API_KEY too, or unset it',
      expect.stringMatching(/^CERTCTL_NOTIFICATION_CONCURRENCY must be a whole number between 2 and 64/),
    ]);
    for (const p of problems) expect(p).not.toMatch(/hunter2|short-secret-value|not-a-key/);
  });

  it('reads the opt-in digest settings and names bad ones', () => {
    expect(
      read({
        CERTCTL_DIGEST_ENABLED: 'true',
        CERTCTL_DIGEST_INTERVAL: '12h',
        CERTCTL_DIGEST_RECIPIENTS: 'pki@example.com, sec@example.com',
      }).config.digest,
    ).toEqual({ enabled: true, intervalMs: 43_200_000, recipients: ['pki@example.com', 'sec@example.com'] });
    expect(
      read({
        CERTCTL_DIGEST_ENABLED: 'sometimes',
        CERTCTL_DIGEST_INTERVAL: '1ms',
        CERTCTL_DIGEST_RECIPIENTS: 'pki, a@b.io',
      }).problems,
    ).toEqual([
      'CERTCTL_DIGEST_ENABLED must be true or false, got "sometimes"',
      'CERTCTL_DIGEST_RECIPIENTS: not an email address: pki',
      expect.stringMatching(/^CERTCTL_DIGEST_INTERVAL must be a duration/),
    ]);
  });
});
