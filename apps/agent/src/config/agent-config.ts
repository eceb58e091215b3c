import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { readTargetSecrets, TargetSecretsError } from './target-secrets';

/**
 * The agent's whole configuration: read once at start from CERTCTL_* variables, validated,
 * then injected as `AgentConfig`. Nothing else in the agent reads process.env.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Go-style durations as the server takes them (`30s`, `5m`, `6h`, `1h30m`, `7d`); undefined when malformed. */
export function parseDuration(raw: string): number | undefined {
  const parts = [...raw.matchAll(/(\d+)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== raw) return undefined;
  return parts.reduce((sum, p) => sum + Number(p[1]) * DURATION_UNITS[p[2]], 0);
}

const trimmed = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const duration = (name: string, dflt: string, minMs: number, maxMs: number) =>
  trimmed.transform((v, ctx) => {
    const raw = v ?? dflt;
    const ms = parseDuration(raw);
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `${name} must be a duration such as 30s, 5m or 6h, got ${JSON.stringify(raw)}`,
      });
      return z.NEVER;
    }
    if (ms < minMs || ms > maxMs) {
      ctx.addIssue({ code: 'custom', message: `${name} must be between ${minMs} ms and ${maxMs} ms, got ${ms} ms` });
      return z.NEVER;
    }
    return ms;
  });

const absolutePath = (name: string) =>
  trimmed.refine((v) => v === undefined || isAbsolute(v), { message: `${name} must be an absolute path` });

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const DAY = 86_400_000;

const schema = z
  .object({
    CERTCTL_SERVER_URL: trimmed.transform((v, ctx) => {
      if (v === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: 'CERTCTL_SERVER_URL is required (e.g. https://certctl.example.com:8443)',
        });
        return z.NEVER;
      }
      let u: URL;
      try {
        u = new URL(v);
      } catch {
        ctx.addIssue({ code: 'custom', message: `CERTCTL_SERVER_URL is not a valid URL: ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      if (u.protocol !== 'https:') {
        ctx.addIssue({
          code: 'custom',
          message: 'CERTCTL_SERVER_URL must use https:// (the API key must not travel in clear)',
        });
        return z.NEVER;
      }
      if (u.search || u.hash || u.username || u.password) {
        ctx.addIssue({
          code: 'custom',
          message: 'CERTCTL_SERVER_URL must not carry credentials, a query or a fragment',
        });
        return z.NEVER;
      }
      return u.toString().replace(/\/+$/, '');
    }),
    CERTCTL_API_KEY: trimmed,
    CERTCTL_AGENT_BOOTSTRAP_TOKEN: trimmed,
    CERTCTL_AGENT_ID: trimmed.refine((v) => v === undefined || ID.test(v), {
      message: 'CERTCTL_AGENT_ID must be 1-128 letters, digits, dots, dashes or underscores',
    }),
    CERTCTL_AGENT_NAME: trimmed.refine((v) => v === undefined || v.length <= 200, {
      message: 'CERTCTL_AGENT_NAME must be at most 200 characters',
    }),
    CERTCTL_KEY_DIR: absolutePath('CERTCTL_KEY_DIR').transform((v) => v ?? '/var/lib/certctl/keys'),
    CERTCTL_DISCOVERY_DIRS: trimmed.transform((v, ctx) => {
      const dirs = (v ?? '')
        .split(',')
        .map((d) => d.trim())
        .filter(Boolean);
      const bad = dirs.find((d) => !isAbsolute(d));
      if (bad) {
        ctx.addIssue({
          code: 'custom',
          message: `CERTCTL_DISCOVERY_DIRS: ${JSON.stringify(bad)} is not an absolute path`,
        });
        return z.NEVER;
      }
      return [...new Set(dirs)];
    }),
    CERTCTL_SERVER_CA_BUNDLE_PATH: absolutePath('CERTCTL_SERVER_CA_BUNDLE_PATH'),
    CERTCTL_AGENT_TARGET_SECRETS_FILE: absolutePath('CERTCTL_AGENT_TARGET_SECRETS_FILE'),
    CERTCTL_AGENT_HEARTBEAT_INTERVAL: duration('CERTCTL_AGENT_HEARTBEAT_INTERVAL', '60s', 100, DAY),
    CERTCTL_AGENT_POLL_INTERVAL: duration('CERTCTL_AGENT_POLL_INTERVAL', '30s', 100, DAY),
    CERTCTL_AGENT_DISCOVERY_INTERVAL: duration('CERTCTL_AGENT_DISCOVERY_INTERVAL', '6h', 1000, 30 * DAY),
    /** First retry delay after a failure; doubles per failure up to CERTCTL_AGENT_BACKOFF_MAX. */
    CERTCTL_AGENT_BACKOFF_BASE: duration('CERTCTL_AGENT_BACKOFF_BASE', '2s', 10, 3_600_000),
    CERTCTL_AGENT_BACKOFF_MAX: duration('CERTCTL_AGENT_BACKOFF_MAX', '5m', 10, DAY),
    CERTCTL_LOG_LEVEL: trimmed
      .transform((v) => (v ?? 'info').toLowerCase())
      .pipe(z.enum(LOG_LEVELS, { message: `CERTCTL_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` })),
  })
  .superRefine((e, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (!e.CERTCTL_AGENT_ID && !e.CERTCTL_AGENT_NAME) {
      issue('CERTCTL_AGENT_ID', 'CERTCTL_AGENT_ID or CERTCTL_AGENT_NAME is required (a name registers a new agent)');
    }
    if (e.CERTCTL_AGENT_ID && !e.CERTCTL_API_KEY) {
      issue('CERTCTL_API_KEY', "CERTCTL_API_KEY is required with CERTCTL_AGENT_ID (the agent's own key)");
    }
    if (!e.CERTCTL_AGENT_ID && e.CERTCTL_AGENT_NAME && !e.CERTCTL_API_KEY && !e.CERTCTL_AGENT_BOOTSTRAP_TOKEN) {
      issue(
        'CERTCTL_API_KEY',
        'CERTCTL_API_KEY (allowed to register agents) or CERTCTL_AGENT_BOOTSTRAP_TOKEN is required to register CERTCTL_AGENT_NAME',
      );
    }
    if (e.CERTCTL_AGENT_BACKOFF_BASE > e.CERTCTL_AGENT_BACKOFF_MAX) {
      issue('CERTCTL_AGENT_BACKOFF_BASE', 'CERTCTL_AGENT_BACKOFF_BASE must not exceed CERTCTL_AGENT_BACKOFF_MAX');
    }
  });

export interface AgentConfig {
  serverUrl: string;
  /** The agent's own key (with agentId), or a key allowed to register agents (with agentName). */
  apiKey?: string;
  /** Registration credential when the server requires one instead of an API key. */
  bootstrapToken?: string;
  agentId?: string;
  agentName?: string;
  keyDir: string;
  discoveryDirs: string[];
  caBundlePath?: string;
  /** The CA bundle's PEM, read once at start. */
  caBundlePem?: string;
  /**
   * JSON file with the secret fields of target configurations (never sent by the server),
   * checked at start (mode 0600, shape) and read again for each deployment.
   */
  targetSecretsFile?: string;
  heartbeatIntervalMs: number;
  pollIntervalMs: number;
  discoveryIntervalMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  logLevel: LogLevel;
}

export class AgentConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'AgentConfigError';
  }
}

/** Validates the environment; throws AgentConfigError naming every bad variable. */
export function loadAgentConfig(env: Record<string, string | undefined>): AgentConfig {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new AgentConfigError(
      parsed.error.issues.map((i) => {
        const name = String(i.path[0] ?? '');
        return i.message.includes(name) ? i.message : `${name}: ${i.message}`;
      }),
    );
  }
  const e = parsed.data;
  let caBundlePem: string | undefined;
  if (e.CERTCTL_SERVER_CA_BUNDLE_PATH) {
    try {
      caBundlePem = readFileSync(e.CERTCTL_SERVER_CA_BUNDLE_PATH, 'utf8');
    } catch (err) {
      throw new AgentConfigError([`CERTCTL_SERVER_CA_BUNDLE_PATH: cannot read it: ${(err as Error).message}`]);
    }
    if (!caBundlePem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new AgentConfigError([
        `CERTCTL_SERVER_CA_BUNDLE_PATH: ${e.CERTCTL_SERVER_CA_BUNDLE_PATH} holds no PEM certificate`,
      ]);
    }
  }
  if (e.CERTCTL_AGENT_TARGET_SECRETS_FILE) {
    try {
      readTargetSecrets(e.CERTCTL_AGENT_TARGET_SECRETS_FILE);
    } catch (err) {
      if (err instanceof TargetSecretsError) throw new AgentConfigError([err.message]);
      throw err;
    }
  }
  return {
    serverUrl: e.CERTCTL_SERVER_URL,
    apiKey: e.CERTCTL_API_KEY,
    bootstrapToken: e.CERTCTL_AGENT_BOOTSTRAP_TOKEN,
    agentId: e.CERTCTL_AGENT_ID,
    agentName: e.CERTCTL_AGENT_NAME,
    keyDir: e.CERTCTL_KEY_DIR,
    discoveryDirs: e.CERTCTL_DISCOVERY_DIRS,
    caBundlePath: e.CERTCTL_SERVER_CA_BUNDLE_PATH,
    caBundlePem,
    targetSecretsFile: e.CERTCTL_AGENT_TARGET_SECRETS_FILE,
    heartbeatIntervalMs: e.CERTCTL_AGENT_HEARTBEAT_INTERVAL,
    pollIntervalMs: e.CERTCTL_AGENT_POLL_INTERVAL,
    discoveryIntervalMs: e.CERTCTL_AGENT_DISCOVERY_INTERVAL,
    backoffBaseMs: e.CERTCTL_AGENT_BACKOFF_BASE,
    backoffMaxMs: e.CERTCTL_AGENT_BACKOFF_MAX,
    logLevel: e.CERTCTL_LOG_LEVEL,
  };
}
