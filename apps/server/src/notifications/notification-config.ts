import { NotifierType, validateNotifierConfig } from '@certctl/connectors';

/**
 * Notification channels and delivery settings from the environment (certctl's variable
 * names). A channel is configured when its first variable is set (CERTCTL_SMTP_HOST,
 * CERTCTL_WEBHOOK_URL, ...); its settings are then checked with the adapter's own schema and
 * every problem names the variable to fix, never a secret value.
 */

export interface NotificationChannelConfig {
  type: NotifierType;
  /** The adapter config (validated), secrets included: never logged or returned by the API. */
  config: Record<string, unknown>;
}

export interface NotificationConfig {
  /** Configured channels, at most one per type. */
  channels: NotificationChannelConfig[];
  /** Scheduler loop that routes new rows and enqueues due pending ones. */
  processIntervalMs: number;
  /** Scheduler loop that enqueues failed rows whose backoff has passed. */
  retryIntervalMs: number;
  /** Sends this process runs at once (one hanging channel holds one slot for its timeout). */
  concurrency: number;
  /** Deadline of one delivery, every channel. */
  timeoutSeconds: number;
  digest: DigestConfig;
}

/** The periodic digest email (CERTCTL_DIGEST_*). */
export interface DigestConfig {
  /** Opt-in: without it the digest is only sent through `POST /api/v1/digest/send`. */
  enabled: boolean;
  intervalMs: number;
  /** Explicit recipients; empty means the owners of the certificates in the digest. */
  recipients: string[];
}

type Env = Record<string, string | undefined>;

const DURATION = /^(\d+)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Which variable sets each adapter field, per channel (for error messages and reading).
 * certctl sent CERTCTL_PAGERDUTY_SEVERITY / CERTCTL_OPSGENIE_PRIORITY with every event, its
 * events having no severity of their own; ours have one, so the variables are floors
 * (min_severity, min_priority): a more severe event keeps its own level.
 */
const VARIABLES: Record<NotifierType, Record<string, string>> = {
  [NotifierType.Email]: {
    host: 'CERTCTL_SMTP_HOST',
    port: 'CERTCTL_SMTP_PORT',
    security: 'CERTCTL_SMTP_USE_TLS',
    username: 'CERTCTL_SMTP_USERNAME',
    password: 'CERTCTL_SMTP_PASSWORD',
    from: 'CERTCTL_SMTP_FROM_ADDRESS',
    to: 'CERTCTL_SMTP_RECIPIENTS',
    tls_server_name: 'CERTCTL_SMTP_TLS_SERVER_NAME',
  },
  [NotifierType.Webhook]: { url: 'CERTCTL_WEBHOOK_URL', secret: 'CERTCTL_WEBHOOK_SECRET' },
  [NotifierType.Slack]: {
    webhook_url: 'CERTCTL_SLACK_WEBHOOK_URL',
    channel: 'CERTCTL_SLACK_CHANNEL',
    username: 'CERTCTL_SLACK_USERNAME',
  },
  [NotifierType.Teams]: { webhook_url: 'CERTCTL_TEAMS_WEBHOOK_URL' },
  [NotifierType.PagerDuty]: {
    routing_key: 'CERTCTL_PAGERDUTY_ROUTING_KEY',
    api_url: 'CERTCTL_PAGERDUTY_API_URL',
    min_severity: 'CERTCTL_PAGERDUTY_SEVERITY',
  },
  [NotifierType.OpsGenie]: {
    api_key: 'CERTCTL_OPSGENIE_API_KEY',
    api_url: 'CERTCTL_OPSGENIE_API_URL',
    min_priority: 'CERTCTL_OPSGENIE_PRIORITY',
  },
};

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function duration(env: Env, problems: string[], name: string, dflt: number, min: number, max: number): number {
  const v = str(env, name);
  if (v === undefined) return dflt;
  const m = DURATION.exec(v);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]] : NaN;
  if (!(ms >= min && ms <= max)) {
    problems.push(`${name} must be a duration such as 500ms, 30s or 5m between ${min} ms and ${max} ms, got ${v}`);
    return dflt;
  }
  return ms;
}

function int(env: Env, problems: string[], name: string, dflt: number, min: number, max: number): number {
  const v = str(env, name);
  if (v === undefined) return dflt;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!(n >= min && n <= max)) {
    problems.push(`${name} must be a whole number between ${min} and ${max}, got ${JSON.stringify(v)}`);
    return dflt;
  }
  return n;
}

/**
 * CERTCTL_SMTP_USE_TLS: true (default) requires TLS, as STARTTLS, or implicit TLS on port
 * 465; false sends plain SMTP (a local relay, no credentials).
 */
function smtpSecurity(env: Env, problems: string[]): 'starttls' | 'tls' | 'none' {
  const v = str(env, 'CERTCTL_SMTP_USE_TLS')?.toLowerCase();
  const port = str(env, 'CERTCTL_SMTP_PORT');
  if (v === undefined || ['1', 'true', 'yes', 'on'].includes(v)) return port === '465' ? 'tls' : 'starttls';
  if (['0', 'false', 'no', 'off'].includes(v)) return 'none';
  problems.push(`CERTCTL_SMTP_USE_TLS must be true or false, got ${JSON.stringify(v)}`);
  return 'starttls';
}

/** The raw adapter config of one channel from its variables, or undefined when it is not configured. */
function rawChannel(type: NotifierType, env: Env, problems: string[]): Record<string, unknown> | undefined {
  const vars = VARIABLES[type];
  const first = Object.values(vars)[0];
  if (str(env, first) === undefined) {
    const stray = Object.values(vars).filter((n) => str(env, n) !== undefined && n !== 'CERTCTL_SMTP_USE_TLS');
    if (stray.length)
      problems.push(`${stray.join(', ')}: set ${first} too, or unset ${stray.length > 1 ? 'them' : 'it'}`);
    return undefined;
  }
  const out: Record<string, unknown> = {};
  for (const [field, name] of Object.entries(vars)) {
    const v = str(env, name);
    if (v !== undefined) out[field] = v;
  }
  if (type === NotifierType.Email) {
    out.security = smtpSecurity(env, problems);
    if (typeof out.port === 'string') out.port = /^\d+$/.test(out.port) ? Number(out.port) : out.port;
    if (typeof out.to === 'string') out.to = out.to.split(/[\s,]+/).filter(Boolean);
  }
  // Enumerated values in any case (`Critical`, `p2`), as the adapters spell them.
  if (typeof out.min_severity === 'string') out.min_severity = out.min_severity.toLowerCase();
  if (typeof out.min_priority === 'string') out.min_priority = out.min_priority.toUpperCase();
  return out;
}

export function readNotificationConfig(env: Env, problems: string[]): NotificationConfig {
  const timeoutSeconds = Math.round(
    duration(env, problems, 'CERTCTL_NOTIFICATION_TIMEOUT', 10_000, 1_000, 120_000) / 1000,
  );
  const channels: NotificationChannelConfig[] = [];
  for (const type of Object.keys(VARIABLES) as NotifierType[]) {
    const raw = rawChannel(type, env, problems);
    if (!raw) continue;
    const checked = validateNotifierConfig(type, { ...raw, timeout_seconds: timeoutSeconds });
    if (!checked.ok) {
      // `config.routing_key: must be ...` -> `CERTCTL_PAGERDUTY_ROUTING_KEY: must be ...`
      for (const issue of checked.issues) {
        const m = /^config\.([a-z_]+)(?:\.\d+)?: (.*)$/.exec(issue);
        const name = m ? VARIABLES[type][m[1]] : undefined;
        problems.push(name && m ? `${name}: ${m[2]}` : `${type} channel: ${issue}`);
      }
      continue;
    }
    channels.push({ type, config: checked.config });
  }
  return {
    channels,
    processIntervalMs: duration(
      env,
      problems,
      'CERTCTL_SCHEDULER_NOTIFICATION_PROCESS_INTERVAL',
      30_000,
      100,
      3_600_000,
    ),
    retryIntervalMs: duration(env, problems, 'CERTCTL_NOTIFICATION_RETRY_INTERVAL', 60_000, 100, 3_600_000),
    concurrency: int(env, problems, 'CERTCTL_NOTIFICATION_CONCURRENCY', 8, 2, 64),
    timeoutSeconds,
    digest: readDigestConfig(env, problems),
  };
}

const EMAIL = /^[^\s@,<>]+@[^\s@,<>]+\.[^\s@,<>]+$/;

function readDigestConfig(env: Env, problems: string[]): DigestConfig {
  const flag = str(env, 'CERTCTL_DIGEST_ENABLED')?.toLowerCase();
  let enabled = false;
  if (flag !== undefined && ['1', 'true', 'yes', 'on'].includes(flag)) enabled = true;
  else if (flag !== undefined && !['0', 'false', 'no', 'off'].includes(flag))
    problems.push(`CERTCTL_DIGEST_ENABLED must be true or false, got ${JSON.stringify(flag)}`);
  const recipients = (str(env, 'CERTCTL_DIGEST_RECIPIENTS') ?? '').split(/[\s,]+/).filter(Boolean);
  const bad = recipients.filter((r) => !EMAIL.test(r));
  if (bad.length) problems.push(`CERTCTL_DIGEST_RECIPIENTS: not an email address: ${bad.join(', ')}`);
  if (recipients.length > 100) problems.push('CERTCTL_DIGEST_RECIPIENTS: at most 100 addresses');
  return {
    enabled,
    // Default daily; at least a second (tests), at most 30 days.
    intervalMs: duration(env, problems, 'CERTCTL_DIGEST_INTERVAL', 86_400_000, 1_000, 30 * 86_400_000),
    recipients,
  };
}
