import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { bool, email, host, httpUrl, int, oneOf, port, secret, stringMap, text, str } from '../config/fields';
import { together } from '../config/rules';
import { defineConfig, type ConfigSpec } from '../config/spec';
import { NotifierType } from './notifier-port';

/*
 * Notification channel configs. They are held by the server (notifications are sent from
 * there), sealed at rest like issuer configs; keys, passwords and webhook URLs that carry a
 * token are secret fields.
 */

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Each certificate of a PEM bundle parses; an empty or garbled bundle is refused up front. */
function isCertBundle(pem: string): boolean {
  const blocks = pem.match(PEM_CERT);
  if (!blocks) return false;
  try {
    for (const b of blocks) new X509Certificate(b);
    return true;
  } catch {
    return false;
  }
}

/** Headers that frame or sign the request: a configured header must not replace them. */
const RESERVED_HEADERS = /^(content-.*|host|connection|transfer-encoding|user-agent|authorization|x-certctl-.*)$/i;

/** Header values must stay one line: no CR, LF or other control characters. */
function noControlChars(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

/** Fields every channel has. */
const common = {
  /** Whole-request deadline in seconds (default 10): a receiver that hangs fails the send. */
  timeout_seconds: int(1, 120).optional(),
  /**
   * PEM CA certificates trusted for this channel's TLS server (a private relay or webhook
   * receiver), in addition to the system roots.
   */
  ca_pem: str()
    .max(262_144, 'must be at most 262144 characters')
    .refine(isCertBundle, 'must be one or more PEM certificates (-----BEGIN CERTIFICATE-----)')
    .optional(),
};

/** An http(s) URL that carries a token (Slack, Teams): kept secret, never shown or logged. */
function secretUrl() {
  return secret(2048, {
    test: (u) => {
      try {
        const url = new URL(u);
        return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname !== '' && url.username === '';
      } catch {
        return false;
      }
    },
    message: 'must be an http:// or https:// URL without embedded credentials',
  });
}

/**
 * SMTP through nodemailer. security: `starttls` (default, port 587; the upgrade is required,
 * a server that does not offer it fails), `tls` (implicit TLS, port 465) or `none` (plain
 * SMTP to a local relay, port 25; no credentials allowed over it).
 */
export const emailNotifierConfig = defineConfig(
  {
    host: host(),
    port: port().optional(),
    security: oneOf(['starttls', 'tls', 'none'] as const).optional(),
    /** Name checked against the server certificate when host is an IP address or differs from it. */
    tls_server_name: host().optional(),
    username: text(256).optional(),
    password: secret(1024).optional(),
    from: email(),
    /** Default recipients; a notification's own recipients (owners, teams) replace them. */
    to: z
      .array(email(), { error: 'must be an array of email addresses' })
      .min(1, 'must have at least 1 item(s)')
      .max(100, 'must have at most 100 items')
      .optional(),
    subject_prefix: text(64).optional(),
    ...common,
  },
  (v, ctx) => {
    together(v, ctx.issue, 'username', 'password');
    if ((v.security ?? 'starttls') === 'none' && v.username !== undefined) {
      ctx.issue('username', 'requires security starttls or tls (credentials are never sent in clear)');
    }
    if (v.security === 'none' && v.ca_pem !== undefined) ctx.issue('ca_pem', 'is only used with starttls or tls');
  },
);

/**
 * Generic webhook: a JSON POST signed with HMAC-SHA256 (see docs/operator/notifications.md).
 * The secret is required so receivers can always authenticate the sender.
 */
export const webhookNotifierConfig = defineConfig({
  url: httpUrl(),
  /** Shared HMAC key, at least 32 characters. */
  secret: secret(1024, { test: (s) => s.length >= 32, message: 'must be at least 32 characters' }),
  /** Extra request headers (e.g. a routing header of the receiver); not secret. */
  headers: stringMap(16)
    .refine(
      (h) => Object.keys(h).every((k) => /^[A-Za-z0-9-]+$/.test(k) && !RESERVED_HEADERS.test(k)),
      'names must be letters, digits and -, and not a header certctl sets (content-*, host, x-certctl-*, ...)',
    )
    .refine((h) => Object.values(h).every(noControlChars), 'values must not contain control characters')
    .optional(),
  ...common,
});

/**
 * A Slack channel as the `channel` field of an incoming-webhook payload takes it: `#name`
 * (lowercase letters of any script, digits, marks, `-`, `_`, `.`; at most 80) or a
 * conversation ID (`C0123456789`; G for private channels, D for direct messages).
 */
const SLACK_CHANNEL = /^(#[\p{Ll}\p{Lo}\p{Lm}\p{M}\p{N}_.-]{1,80}|[CGD][A-Z0-9]{6,20})$/u;

/**
 * Slack incoming webhook (Block Kit message). `channel` and `username` override the
 * webhook's default channel and poster name; only legacy (custom integration) webhooks
 * honour them, Slack-app webhooks post to their own channel under the app's name.
 */
export const slackNotifierConfig = defineConfig({
  webhook_url: secretUrl(),
  channel: str()
    .refine(
      (c) => SLACK_CHANNEL.test(c),
      'must be a channel name starting with # (e.g. #pki-alerts) or a channel ID (e.g. C0123456789)',
    )
    .optional(),
  /** Slack shows at most 80 characters of a name. */
  username: text(80).refine(noControlChars, 'must not contain control characters').optional(),
  ...common,
});

/** Microsoft Teams: a Workflows "post to a channel when a webhook request is received" URL (Adaptive Card). */
export const teamsNotifierConfig = defineConfig({
  webhook_url: secretUrl(),
  ...common,
});

/** PagerDuty's event severities, least to most severe. */
export const PAGERDUTY_SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;
export type PagerDutySeverity = (typeof PAGERDUTY_SEVERITIES)[number];

/** OpsGenie's alert priorities, most to least urgent. */
export const OPSGENIE_PRIORITIES = ['P1', 'P2', 'P3', 'P4', 'P5'] as const;
export type OpsGeniePriority = (typeof OPSGENIE_PRIORITIES)[number];

/** PagerDuty Events API v2. api_url defaults to https://events.pagerduty.com (EU: https://events.eu.pagerduty.com). */
export const pagerDutyNotifierConfig = defineConfig({
  routing_key: secret(64, {
    test: (k) => /^[A-Za-z0-9]{32}$/.test(k),
    message: 'must be a 32-character integration key',
  }),
  api_url: httpUrl().optional(),
  /** payload.source (default "certctl"). */
  source: text(255).optional(),
  /**
   * The lowest payload.severity sent: a less severe event is raised to it, a more severe one
   * keeps its own (a floor, never a cap, so a critical event is never sent as info).
   */
  min_severity: oneOf(PAGERDUTY_SEVERITIES).optional(),
  ...common,
});

/**
 * OpsGenie Alert API v2. region us (https://api.opsgenie.com, default) or eu
 * (https://api.eu.opsgenie.com); api_url overrides both.
 */
export const opsGenieNotifierConfig = defineConfig(
  {
    api_key: secret(128),
    region: oneOf(['us', 'eu'] as const).optional(),
    api_url: httpUrl().optional(),
    /** Team responder added to every alert. */
    team: text(128).optional(),
    tags: z.array(text(50), { error: 'must be an array of strings' }).max(20, 'must have at most 20 items').optional(),
    /** Close alerts on resolve (default true); false leaves closing to people. */
    close_on_resolve: bool().optional(),
    /**
     * The least urgent priority sent: a less urgent alert is raised to it, a more urgent one
     * keeps its own (P1 is the most urgent).
     */
    min_priority: oneOf(OPSGENIE_PRIORITIES).optional(),
    ...common,
  },
  (v, ctx) => {
    if (v.region !== undefined && v.api_url !== undefined)
      ctx.issue('api_url', 'use either region or api_url, not both');
  },
);

export type EmailNotifierConfig = z.infer<typeof emailNotifierConfig.schema>;
export type WebhookNotifierConfig = z.infer<typeof webhookNotifierConfig.schema>;
export type SlackNotifierConfig = z.infer<typeof slackNotifierConfig.schema>;
export type TeamsNotifierConfig = z.infer<typeof teamsNotifierConfig.schema>;
export type PagerDutyNotifierConfig = z.infer<typeof pagerDutyNotifierConfig.schema>;
export type OpsGenieNotifierConfig = z.infer<typeof opsGenieNotifierConfig.schema>;

export const NOTIFIER_CONFIGS: Record<NotifierType, ConfigSpec> = {
  [NotifierType.Email]: emailNotifierConfig,
  [NotifierType.Webhook]: webhookNotifierConfig,
  [NotifierType.Slack]: slackNotifierConfig,
  [NotifierType.Teams]: teamsNotifierConfig,
  [NotifierType.PagerDuty]: pagerDutyNotifierConfig,
  [NotifierType.OpsGenie]: opsGenieNotifierConfig,
};
