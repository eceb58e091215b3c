import { isIP } from 'node:net';
import { z } from 'zod';
import { pkiBaseUrlProblem } from '@certctl/pki';
import { readEnrollmentConfig, type EnrollmentConfig } from '../enrollment/enrollment-config';
import { readAcmeConfig, type AcmeConfig } from '../acme/acme-config';
import { readAcmeClientConfig, type AcmeClientConfig } from '../issuers/acme/acme-client-config';
import { readNotificationConfig, type NotificationConfig } from '../notifications/notification-config';
import { PROCESS_ROLES, type ProcessRole } from '../role/process-role';

/**
 * The server's whole configuration: read once at boot from CERTCTL_* variables, validated,
 * then injected as `AppConfig`. Nothing else in the server reads process.env.
 */

const bool = (name: string, dflt: boolean) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return dflt;
      const s = v.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(s)) return true;
      if (['0', 'false', 'no', 'off'].includes(s)) return false;
      ctx.addIssue({ code: 'custom', message: `${name} must be true or false, got ${JSON.stringify(v)}` });
      return z.NEVER;
    });

/** A whole number in [min, max]; unset or empty gives `dflt` (which may be undefined: optional). */
const int = <D extends number | undefined>(name: string, dflt: D, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx): number | D => {
      if (v === undefined || v.trim() === '') return dflt;
      if (!/^\d+$/.test(v.trim())) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a whole number, got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      const n = Number(v.trim());
      if (n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `${name} must be between ${min} and ${max}, got ${n}` });
        return z.NEVER;
      }
      return n;
    });

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
};

/** Byte sizes: a plain number of bytes, or with a unit (`512KiB`, `1MB`, `2MiB`). */
const byteSize = (name: string, dflt: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return dflt;
      const m = /^(\d+)\s*([a-z]*)$/i.exec(v.trim());
      const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
      if (!m || unit === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be a byte count such as 1048576, 512KiB or 1MiB, got ${JSON.stringify(v)}`,
        });
        return z.NEVER;
      }
      const n = Number(m[1]) * unit;
      if (n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `${name} must be between ${min} and ${max} bytes, got ${n}` });
        return z.NEVER;
      }
      return n;
    });

const url = (name: string, dflt: string, protocols: string[]) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const raw = v === undefined || v.trim() === '' ? dflt : v.trim();
      let parsed: URL;
      try {
        parsed = new URL(raw);
      } catch {
        ctx.addIssue({ code: 'custom', message: `${name} is not a valid URL` });
        return z.NEVER;
      }
      if (!protocols.includes(parsed.protocol)) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must use ${protocols.map((p) => p.replace(':', '://')).join(' or ')}`,
        });
        return z.NEVER;
      }
      return raw;
    });

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Go-style durations as certctl takes them: `30s`, `5m`, `24h`, `1h30m`, `7d`. With `off`,
 * `0` (also `0s`, `0m`, ...) is accepted too and yields 0: the feature is turned off.
 */
const duration = (name: string, dflt: string, minMs: number, maxMs: number, opts: { off?: boolean } = {}) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const raw = v === undefined || v.trim() === '' ? dflt : v.trim();
      if (opts.off && /^0+(ms|s|m|h|d)?$/.test(raw)) return 0;
      const orOff = opts.off ? ' (or 0 to turn it off)' : '';
      const parts = [...raw.matchAll(/(\d+)(ms|s|m|h|d)/g)];
      const ms = parts.reduce((sum, p) => sum + Number(p[1]) * DURATION_UNITS[p[2]], 0);
      if (parts.length === 0 || parts.map((p) => p[0]).join('') !== raw) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be a duration such as 30s, 5m or 24h${orOff}, got ${JSON.stringify(raw)}`,
        });
        return z.NEVER;
      }
      if (ms < minMs || ms > maxMs) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be between ${minMs} ms and ${maxMs} ms${orOff}, got ${ms} ms`,
        });
        return z.NEVER;
      }
      return ms;
    });

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const csv = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );

export const configSchema = z
  .object({
    CERTCTL_SERVER_HOST: z
      .string()
      .optional()
      .transform((v, ctx) => {
        const host = v === undefined || v.trim() === '' ? '127.0.0.1' : v.trim();
        if (host !== 'localhost' && isIP(host) === 0) {
          ctx.addIssue({ code: 'custom', message: 'CERTCTL_SERVER_HOST must be an IP address or localhost' });
          return z.NEVER;
        }
        return host;
      }),
    CERTCTL_SERVER_PORT: int('CERTCTL_SERVER_PORT', 8443, 0, 65535),
    CERTCTL_SERVER_TLS_CERT_PATH: optionalString,
    CERTCTL_SERVER_TLS_KEY_PATH: optionalString,
    /** How often the listener re-reads its certificate (tls/server-tls-reloader.ts); 0 = never. */
    CERTCTL_SERVER_TLS_RELOAD_INTERVAL: duration('CERTCTL_SERVER_TLS_RELOAD_INTERVAL', '1m', 1_000, 86_400_000, {
      off: true,
    }),
    CERTCTL_PUBLIC_URL: optionalString.pipe(
      z
        .string()
        .url({ message: 'CERTCTL_PUBLIC_URL must be an https:// URL' })
        .refine((u) => u.startsWith('https://'), 'CERTCTL_PUBLIC_URL must be an https:// URL')
        .optional(),
    ),
    /** Plain-HTTP listener serving only /.well-known/pki/* (createPkiHttpServer in server-app.ts); unset = none. */
    CERTCTL_PKI_HTTP_PORT: int('CERTCTL_PKI_HTTP_PORT', undefined, 1, 65535),
    /** Unset: CERTCTL_SERVER_HOST. */
    CERTCTL_PKI_HTTP_HOST: optionalString.pipe(
      z
        .string()
        .refine((h) => h === 'localhost' || isIP(h) !== 0, 'CERTCTL_PKI_HTTP_HOST must be an IP address or localhost')
        .optional(),
    ),
    /** Base of the CRL DP and AIA URLs in certificates (http:// allowed); unset = CERTCTL_PUBLIC_URL. */
    CERTCTL_PKI_PUBLIC_URL: optionalString.pipe(
      z
        .string()
        .refine(
          (u) => pkiBaseUrlProblem(u) === undefined,
          'CERTCTL_PKI_PUBLIC_URL must be an http:// or https:// URL without credentials, query or fragment',
        )
        .optional(),
    ),
    CERTCTL_DATA_DIR: z
      .string()
      .optional()
      .transform((v) => (v === undefined || v.trim() === '' ? './data' : v.trim())),
    CERTCTL_DATABASE_URL: url('CERTCTL_DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/certctl', [
      'postgres:',
      'postgresql:',
    ]),
    CERTCTL_DATABASE_MAX_CONNS: int('CERTCTL_DATABASE_MAX_CONNS', 20, 2, 500),
    CERTCTL_REDIS_URL: url('CERTCTL_REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    CERTCTL_REDIS_PREFIX: z
      .string()
      .optional()
      .transform((v) => (v === undefined || v.trim() === '' ? 'certctl' : v.trim()))
      .pipe(
        z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'CERTCTL_REDIS_PREFIX may hold letters, digits and _.:- (1-64)'),
      ),
    CERTCTL_MAX_BODY_SIZE: byteSize('CERTCTL_MAX_BODY_SIZE', 1024 * 1024, 1024, 256 * 1024 * 1024),
    CERTCTL_CORS_ORIGINS: csv.pipe(
      z.array(
        z.string().refine((o) => {
          try {
            const u = new URL(o);
            return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === o;
          } catch {
            return false;
          }
        }, 'CERTCTL_CORS_ORIGINS entries must be origins such as https://console.example.com (no path, no wildcard)'),
      ),
    ),
    CERTCTL_TRUSTED_PROXIES: csv.pipe(
      z.array(
        z
          .string()
          .refine(
            isProxySpec,
            'CERTCTL_TRUSTED_PROXIES entries must be IP addresses, CIDRs, or loopback/linklocal/uniquelocal',
          ),
      ),
    ),
    CERTCTL_RATE_LIMIT_ENABLED: bool('CERTCTL_RATE_LIMIT_ENABLED', false),
    CERTCTL_RATE_LIMIT_RPS: int('CERTCTL_RATE_LIMIT_RPS', 50, 1, 1_000_000),
    CERTCTL_RATE_LIMIT_BURST: int('CERTCTL_RATE_LIMIT_BURST', 100, 1, 1_000_000),
    CERTCTL_RATE_LIMIT_PER_USER_RPS: int('CERTCTL_RATE_LIMIT_PER_USER_RPS', 20, 1, 1_000_000),
    CERTCTL_RATE_LIMIT_PER_USER_BURST: int('CERTCTL_RATE_LIMIT_PER_USER_BURST', 40, 1, 1_000_000),
    CERTCTL_LOG_LEVEL: z
      .string()
      .optional()
      .transform((v) => (v === undefined || v.trim() === '' ? 'info' : v.trim().toLowerCase()))
      .pipe(
        z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
          message: 'CERTCTL_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
        }),
      ),
    /** What this process runs: all (default), api (no queue workers or loops) or worker (no API); see role/. */
    CERTCTL_ROLE: z
      .string()
      .optional()
      .transform((v) => (v === undefined || v.trim() === '' ? 'all' : v.trim().toLowerCase()))
      .pipe(z.enum(PROCESS_ROLES, { message: 'CERTCTL_ROLE must be one of all, api, worker' })),
    CERTCTL_BOOTSTRAP_TOKEN: optionalString.pipe(
      z.string().min(16, 'CERTCTL_BOOTSTRAP_TOKEN must be at least 16 characters').optional(),
    ),
    /** Shared secret agents present (Bearer) on POST /api/v1/agents to register without an API key. */
    CERTCTL_AGENT_BOOTSTRAP_TOKEN: optionalString.pipe(
      z.string().min(16, 'CERTCTL_AGENT_BOOTSTRAP_TOKEN must be at least 16 characters').optional(),
    ),
    /** true: refuse to start without CERTCTL_AGENT_BOOTSTRAP_TOKEN. */
    CERTCTL_AGENT_BOOTSTRAP_TOKEN_DENY_EMPTY: bool('CERTCTL_AGENT_BOOTSTRAP_TOKEN_DENY_EMPTY', false),
    CERTCTL_CONFIG_ENCRYPTION_KEY: z
      .string()
      .optional()
      .transform((v) => (v === undefined || v === '' ? undefined : v))
      .pipe(
        z
          .string()
          .refine((v) => Buffer.byteLength(v, 'utf8') >= 32, 'CERTCTL_CONFIG_ENCRYPTION_KEY must be at least 32 bytes')
          .optional(),
      ),
    CERTCTL_SCHEDULER_JOB_PROCESSOR_INTERVAL: duration(
      'CERTCTL_SCHEDULER_JOB_PROCESSOR_INTERVAL',
      '30s',
      100,
      86_400_000,
    ),
    CERTCTL_SCHEDULER_RETRY_INTERVAL: duration('CERTCTL_SCHEDULER_RETRY_INTERVAL', '5m', 100, 86_400_000),
    CERTCTL_JOB_TIMEOUT_INTERVAL: duration('CERTCTL_JOB_TIMEOUT_INTERVAL', '10m', 100, 86_400_000),
    CERTCTL_JOB_AWAITING_CSR_TIMEOUT: duration('CERTCTL_JOB_AWAITING_CSR_TIMEOUT', '24h', 1_000, 365 * 86_400_000),
    CERTCTL_JOB_AWAITING_APPROVAL_TIMEOUT: duration(
      'CERTCTL_JOB_AWAITING_APPROVAL_TIMEOUT',
      '168h',
      1_000,
      365 * 86_400_000,
    ),
    /** A job Running this long is taken for dead (agent or server process gone) and fails. */
    CERTCTL_JOB_RUNNING_TIMEOUT: duration('CERTCTL_JOB_RUNNING_TIMEOUT', '1h', 1_000, 365 * 86_400_000),
    CERTCTL_SCHEDULER_JOB_CLAIM_LIMIT: int('CERTCTL_SCHEDULER_JOB_CLAIM_LIMIT', 100, 1, 10_000),
    CERTCTL_AUDIT_FLUSH_TIMEOUT_SECONDS: int('CERTCTL_AUDIT_FLUSH_TIMEOUT_SECONDS', 10, 1, 600),
    /** Sub-CA files of the built-in Local CA issuer (iss-local); set both or neither. */
    CERTCTL_CA_CERT_PATH: optionalString,
    CERTCTL_CA_KEY_PATH: optionalString,
    CERTCTL_APPROVAL_BYPASS: bool('CERTCTL_APPROVAL_BYPASS', false),
    CERTCTL_KEYGEN_MODE: z
      .string()
      .optional()
      .transform((v) => (v === undefined || v.trim() === '' ? 'agent' : v.trim().toLowerCase()))
      .pipe(z.enum(['agent', 'server'], { message: 'CERTCTL_KEYGEN_MODE must be agent or server' })),
    CERTCTL_RENEWAL_CONCURRENCY: int('CERTCTL_RENEWAL_CONCURRENCY', 4, 1, 64),
    /** Asynchronous CAs: first poll of a pending order, doubled after each pending answer up to the max. */
    CERTCTL_ISSUER_POLL_INTERVAL: duration('CERTCTL_ISSUER_POLL_INTERVAL', '30s', 100, 86_400_000),
    CERTCTL_ISSUER_POLL_MAX_INTERVAL: duration('CERTCTL_ISSUER_POLL_MAX_INTERVAL', '15m', 100, 86_400_000),
    /** A CA order still pending this long fails its job (validation never completed). */
    CERTCTL_ISSUER_ORDER_TIMEOUT: duration('CERTCTL_ISSUER_ORDER_TIMEOUT', '72h', 1_000, 365 * 86_400_000),
    /** Bound of one poll of a CA (getOrderStatus): a hung CA fails that poll, never the others. */
    CERTCTL_ISSUER_POLL_TIMEOUT: duration('CERTCTL_ISSUER_POLL_TIMEOUT', '60s', 100, 600_000),
    CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL: duration(
      'CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL',
      '1h',
      100,
      86_400_000,
    ),
    CERTCTL_SCHEDULER_AGENT_HEALTH_CHECK_INTERVAL: duration(
      'CERTCTL_SCHEDULER_AGENT_HEALTH_CHECK_INTERVAL',
      '2m',
      100,
      86_400_000,
    ),
    /** An agent whose last heartbeat is older than this is Offline (3 missed 60 s beats + slack). */
    CERTCTL_AGENT_OFFLINE_AFTER: duration('CERTCTL_AGENT_OFFLINE_AFTER', '5m', 1_000, 7 * 86_400_000),
    CERTCTL_SHORT_LIVED_EXPIRY_CHECK_INTERVAL: duration(
      'CERTCTL_SHORT_LIVED_EXPIRY_CHECK_INTERVAL',
      '30s',
      100,
      86_400_000,
    ),
    CERTCTL_CRL_GENERATION_INTERVAL: duration('CERTCTL_CRL_GENERATION_INTERVAL', '1h', 100, 7 * 86_400_000),
    /** How long a CRL is valid (nextUpdate - thisUpdate); must exceed the generation interval. */
    CERTCTL_CRL_VALIDITY: duration('CERTCTL_CRL_VALIDITY', '24h', 60_000, 30 * 86_400_000),
    /** How long a pre-signed OCSP response is valid (nextUpdate - thisUpdate). */
    CERTCTL_OCSP_RESPONSE_VALIDITY: duration('CERTCTL_OCSP_RESPONSE_VALIDITY', '1h', 60_000, 7 * 86_400_000),
    CERTCTL_OCSP_RESPONDER_VALIDITY: duration('CERTCTL_OCSP_RESPONDER_VALIDITY', '720h', 3_600_000, 3650 * 86_400_000),
    CERTCTL_OCSP_RESPONDER_ROTATION_GRACE: duration(
      'CERTCTL_OCSP_RESPONDER_ROTATION_GRACE',
      '168h',
      60_000,
      3650 * 86_400_000,
    ),
    /** 0 = no limit. */
    CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN: int('CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN', 0, 0, 10_000_000),
    /** In-process OCSP response cache entries per replica (LRU); 0 = off. */
    CERTCTL_OCSP_CACHE_MAX_ENTRIES: int('CERTCTL_OCSP_CACHE_MAX_ENTRIES', 20_000, 0, 10_000_000),
    CERTCTL_CERT_EXPORT_RATE_LIMIT_PER_ACTOR_HR: int('CERTCTL_CERT_EXPORT_RATE_LIMIT_PER_ACTOR_HR', 10, 1, 100_000),
  })
  .superRefine((c, ctx) => {
    if (!!c.CERTCTL_SERVER_TLS_CERT_PATH !== !!c.CERTCTL_SERVER_TLS_KEY_PATH) {
      ctx.addIssue({
        code: 'custom',
        path: ['CERTCTL_SERVER_TLS_CERT_PATH'],
        message: 'CERTCTL_SERVER_TLS_CERT_PATH and CERTCTL_SERVER_TLS_KEY_PATH must be set together',
      });
    }
    if (!!c.CERTCTL_CA_CERT_PATH !== !!c.CERTCTL_CA_KEY_PATH) {
      ctx.addIssue({
        code: 'custom',
        path: [c.CERTCTL_CA_CERT_PATH ? 'CERTCTL_CA_KEY_PATH' : 'CERTCTL_CA_CERT_PATH'],
        message: 'CERTCTL_CA_CERT_PATH and CERTCTL_CA_KEY_PATH must be set together (sub-CA mode of the Local CA)',
      });
    }
    if (c.CERTCTL_AGENT_BOOTSTRAP_TOKEN_DENY_EMPTY && !c.CERTCTL_AGENT_BOOTSTRAP_TOKEN) {
      ctx.addIssue({
        code: 'custom',
        path: ['CERTCTL_AGENT_BOOTSTRAP_TOKEN'],
        message:
          'CERTCTL_AGENT_BOOTSTRAP_TOKEN is required because CERTCTL_AGENT_BOOTSTRAP_TOKEN_DENY_EMPTY=true ' +
          '(generate one with `openssl rand -base64 32`, or unset CERTCTL_AGENT_BOOTSTRAP_TOKEN_DENY_EMPTY)',
      });
    }
    if (c.CERTCTL_AGENT_BOOTSTRAP_TOKEN && c.CERTCTL_AGENT_BOOTSTRAP_TOKEN === c.CERTCTL_BOOTSTRAP_TOKEN) {
      ctx.addIssue({
        code: 'custom',
        path: ['CERTCTL_AGENT_BOOTSTRAP_TOKEN'],
        message: 'CERTCTL_AGENT_BOOTSTRAP_TOKEN must differ from CERTCTL_BOOTSTRAP_TOKEN (the admin day-0 token)',
      });
    }
    if (c.CERTCTL_CRL_VALIDITY <= c.CERTCTL_CRL_GENERATION_INTERVAL) {
      ctx.addIssue({
        code: 'custom',
        path: ['CERTCTL_CRL_VALIDITY'],
        message: 'CERTCTL_CRL_VALIDITY must be longer than CERTCTL_CRL_GENERATION_INTERVAL',
      });
    }
  });

type Env = z.output<typeof configSchema>;

function isProxySpec(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const [ip, prefix, ...rest] = entry.split('/');
  const family = isIP(ip ?? '');
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** The validated configuration, injected by class token. */
export class AppConfig {
  readonly server!: {
    host: string;
    port: number;
    tlsCertPath?: string;
    tlsKeyPath?: string;
    /** CERTCTL_SERVER_TLS_RELOAD_INTERVAL: 0 = the certificate read at boot is served until restart. */
    tlsReloadIntervalMs: number;
    publicUrl?: string;
  };
  readonly dataDir!: string;
  readonly database!: { url: string; maxConnections: number };
  readonly redis!: { url: string; prefix: string };
  readonly http!: { maxBodyBytes: number; corsOrigins: string[]; trustedProxies: string[] };
  readonly rateLimit!: { enabled: boolean; rps: number; burst: number; perUserRps: number; perUserBurst: number };
  readonly logLevel!: Env['CERTCTL_LOG_LEVEL'];
  /** CERTCTL_ROLE: which parts of the server this process runs (role/process-role.ts). */
  readonly role!: ProcessRole;
  readonly bootstrapToken?: string;
  /** CERTCTL_AGENT_BOOTSTRAP_TOKEN: agents register with it instead of an API key; unset = API keys only. */
  readonly agentBootstrapToken?: string;
  /** Passphrase sealing issuer/target secrets at rest; unset = secrets cannot be stored. */
  readonly configEncryptionKey?: string;
  readonly auditFlushTimeoutMs!: number;
  readonly jobs!: {
    processorIntervalMs: number;
    retryIntervalMs: number;
    timeoutIntervalMs: number;
    awaitingCsrTimeoutMs: number;
    awaitingApprovalTimeoutMs: number;
    runningTimeoutMs: number;
    claimLimit: number;
  };
  /** CERTCTL_APPROVAL_BYPASS: approval requests are approved at once by system-bypass (dev/CI only). */
  readonly approvalBypass!: boolean;
  readonly issuance!: {
    /** agent: keys are generated by agents (jobs wait in AwaitingCSR); server: demo only. */
    keygenMode: 'agent' | 'server';
    renewalConcurrency: number;
    /** Pending orders of asynchronous CAs: poll backoff, overall deadline, bound of one poll. */
    orderPoll: { initialMs: number; maxMs: number; timeoutMs: number; requestTimeoutMs: number };
    /** CERTCTL_CA_CERT_PATH / CERTCTL_CA_KEY_PATH: the built-in Local CA issuer runs as this sub-CA. */
    subCa?: { certPath: string; keyPath: string };
  };
  readonly scheduler!: {
    renewalCheckIntervalMs: number;
    agentHealthIntervalMs: number;
    agentOfflineAfterMs: number;
    shortLivedIntervalMs: number;
    crlIntervalMs: number;
  };
  readonly pki!: {
    crlValidityMs: number;
    ocspResponseValidityMs: number;
    ocspResponderValidityMs: number;
    ocspResponderRotationGraceMs: number;
    ocspRateLimitPerIpPerMin: number;
    ocspCacheMaxEntries: number;
    exportRateLimitPerActorPerHour: number;
    /** CERTCTL_PKI_HTTP_HOST/PORT: the plain-HTTP listener for /.well-known/pki/*; unset = none. */
    httpListener?: { host: string; port: number };
    /** CERTCTL_PKI_PUBLIC_URL: base of CRL DP and AIA URLs; unset = CERTCTL_PUBLIC_URL. */
    publicUrl?: string;
  };
  /** EST and SCEP labels (CERTCTL_EST_*, CERTCTL_SCEP_*). */
  readonly enrollment!: EnrollmentConfig;
  /** ACME server (CERTCTL_ACME_SERVER_*). */
  readonly acme!: AcmeConfig;
  /** ACME issuer connector: the built-in http-01 responder (CERTCTL_ACME_CLIENT_*). */
  readonly acmeClient!: AcmeClientConfig;
  /** Notification channels and delivery (CERTCTL_SMTP_*, CERTCTL_WEBHOOK_*, ..., CERTCTL_NOTIFICATION_*). */
  readonly notifications!: NotificationConfig;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Validates the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const problems: string[] = [];
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      const name = String(i.path[0] ?? '');
      problems.push(i.message.includes(name) ? i.message : `${name}: ${i.message}`);
    }
  }
  const enrollment = readEnrollmentConfig(env, problems);
  const acme = readAcmeConfig(env, problems);
  const acmeClient = readAcmeClientConfig(env, problems);
  const notifications = readNotificationConfig(env, problems);
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  const cfg: AppConfig = {
    server: {
      host: e.CERTCTL_SERVER_HOST,
      port: e.CERTCTL_SERVER_PORT,
      tlsCertPath: e.CERTCTL_SERVER_TLS_CERT_PATH,
      tlsKeyPath: e.CERTCTL_SERVER_TLS_KEY_PATH,
      tlsReloadIntervalMs: e.CERTCTL_SERVER_TLS_RELOAD_INTERVAL,
      publicUrl: e.CERTCTL_PUBLIC_URL,
    },
    dataDir: e.CERTCTL_DATA_DIR,
    database: { url: e.CERTCTL_DATABASE_URL, maxConnections: e.CERTCTL_DATABASE_MAX_CONNS },
    redis: { url: e.CERTCTL_REDIS_URL, prefix: e.CERTCTL_REDIS_PREFIX },
    http: {
      maxBodyBytes: e.CERTCTL_MAX_BODY_SIZE,
      corsOrigins: e.CERTCTL_CORS_ORIGINS,
      trustedProxies: e.CERTCTL_TRUSTED_PROXIES,
    },
    rateLimit: {
      enabled: e.CERTCTL_RATE_LIMIT_ENABLED,
      rps: e.CERTCTL_RATE_LIMIT_RPS,
      burst: e.CERTCTL_RATE_LIMIT_BURST,
      perUserRps: e.CERTCTL_RATE_LIMIT_PER_USER_RPS,
      perUserBurst: e.CERTCTL_RATE_LIMIT_PER_USER_BURST,
    },
    logLevel: e.CERTCTL_LOG_LEVEL,
    role: e.CERTCTL_ROLE,
    bootstrapToken: e.CERTCTL_BOOTSTRAP_TOKEN,
    agentBootstrapToken: e.CERTCTL_AGENT_BOOTSTRAP_TOKEN,
    configEncryptionKey: e.CERTCTL_CONFIG_ENCRYPTION_KEY,
    auditFlushTimeoutMs: e.CERTCTL_AUDIT_FLUSH_TIMEOUT_SECONDS * 1000,
    jobs: {
      processorIntervalMs: e.CERTCTL_SCHEDULER_JOB_PROCESSOR_INTERVAL,
      retryIntervalMs: e.CERTCTL_SCHEDULER_RETRY_INTERVAL,
      timeoutIntervalMs: e.CERTCTL_JOB_TIMEOUT_INTERVAL,
      awaitingCsrTimeoutMs: e.CERTCTL_JOB_AWAITING_CSR_TIMEOUT,
      awaitingApprovalTimeoutMs: e.CERTCTL_JOB_AWAITING_APPROVAL_TIMEOUT,
      runningTimeoutMs: e.CERTCTL_JOB_RUNNING_TIMEOUT,
      claimLimit: e.CERTCTL_SCHEDULER_JOB_CLAIM_LIMIT,
    },
    approvalBypass: e.CERTCTL_APPROVAL_BYPASS,
    issuance: {
      keygenMode: e.CERTCTL_KEYGEN_MODE,
      renewalConcurrency: e.CERTCTL_RENEWAL_CONCURRENCY,
      orderPoll: {
        initialMs: e.CERTCTL_ISSUER_POLL_INTERVAL,
        maxMs: e.CERTCTL_ISSUER_POLL_MAX_INTERVAL,
        timeoutMs: e.CERTCTL_ISSUER_ORDER_TIMEOUT,
        requestTimeoutMs: e.CERTCTL_ISSUER_POLL_TIMEOUT,
      },
      subCa:
        e.CERTCTL_CA_CERT_PATH && e.CERTCTL_CA_KEY_PATH
          ? { certPath: e.CERTCTL_CA_CERT_PATH, keyPath: e.CERTCTL_CA_KEY_PATH }
          : undefined,
    },
    scheduler: {
      renewalCheckIntervalMs: e.CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL,
      agentHealthIntervalMs: e.CERTCTL_SCHEDULER_AGENT_HEALTH_CHECK_INTERVAL,
      agentOfflineAfterMs: e.CERTCTL_AGENT_OFFLINE_AFTER,
      shortLivedIntervalMs: e.CERTCTL_SHORT_LIVED_EXPIRY_CHECK_INTERVAL,
      crlIntervalMs: e.CERTCTL_CRL_GENERATION_INTERVAL,
    },
    pki: {
      crlValidityMs: e.CERTCTL_CRL_VALIDITY,
      ocspResponseValidityMs: e.CERTCTL_OCSP_RESPONSE_VALIDITY,
      ocspResponderValidityMs: e.CERTCTL_OCSP_RESPONDER_VALIDITY,
      ocspResponderRotationGraceMs: e.CERTCTL_OCSP_RESPONDER_ROTATION_GRACE,
      ocspRateLimitPerIpPerMin: e.CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN,
      ocspCacheMaxEntries: e.CERTCTL_OCSP_CACHE_MAX_ENTRIES,
      exportRateLimitPerActorPerHour: e.CERTCTL_CERT_EXPORT_RATE_LIMIT_PER_ACTOR_HR,
      httpListener:
        e.CERTCTL_PKI_HTTP_PORT === undefined
          ? undefined
          : { host: e.CERTCTL_PKI_HTTP_HOST ?? e.CERTCTL_SERVER_HOST, port: e.CERTCTL_PKI_HTTP_PORT },
      publicUrl: e.CERTCTL_PKI_PUBLIC_URL,
    },
    enrollment,
    acme,
    acmeClient,
    notifications,
  };
  return Object.freeze(cfg);
}

/** This server's external base URL: CERTCTL_PUBLIC_URL, else the HTTPS listener. */
export function publicBaseUrl(c: AppConfig): string {
  return c.server.publicUrl ?? `https://localhost:${c.server.port}`;
}

/**
 * Base of the URLs put in certificates (CRL DP, AIA OCSP and CA issuers): CERTCTL_PKI_PUBLIC_URL,
 * else publicBaseUrl. Relying parties fetch these over plain HTTP in practice (RFC 5280
 * 4.2.1.13, 4.2.2.1), hence a base of its own that may be http://.
 */
export function pkiPublicBaseUrl(c: AppConfig): string {
  return c.pki.publicUrl ?? publicBaseUrl(c);
}
