import { isIP } from 'node:net';

/**
 * ACME server configuration (CERTCTL_ACME_SERVER_*, as certctl names them; the plain
 * CERTCTL_ACME_* names are certctl's ACME client). `/acme/...` issues through the default
 * issuer and profile; `/acme/profile/{id}/...` through any existing certificate profile
 * (same issuer). Two modes, chosen per profile (`acme_auth_mode`, else
 * CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE): `trust_authenticated` (an authenticated account's
 * authorizations are valid at once, for internal PKI where the account key is the
 * credential) and `challenge` (http-01 / dns-01 validation as RFC 8555 section 8 describes, tls-alpn-01 as RFC 8737).
 */

export type AcmeAuthMode = 'trust_authenticated' | 'challenge';

export interface AcmeConfig {
  enabled: boolean;
  issuerId: string;
  /** Profile of `/acme/...`; unset: the issuer's rules alone. */
  profileId?: string;
  /** Mode of a profile whose `acme_auth_mode` is unset (and of `/acme/...` without a profile). */
  authMode: AcmeAuthMode;
  termsOfServiceUrl?: string;
  website?: string;
  caaIdentities: string[];
  /**
   * newAccount needs an External Account Binding made from an admin-issued HMAC key; the
   * default of a profile whose `acme_eab_required` is unset.
   */
  eabRequired: boolean;
  /** newOrder accepts `*.name` identifiers (the profile's SAN rules still decide). */
  allowWildcards: boolean;
  /** Lifetime of a new order. */
  orderLifetimeMs: number;
  /** Lifetime of a new authorization (a trust_authenticated one is valid until then). */
  authzLifetimeMs: number;
  /** How long an issued nonce can be redeemed. */
  nonceTtlMs: number;
  /** Period of the clean-up loop (expired orders and authorizations, lost validations). */
  gcIntervalMs: number;
  /** RFC 9773 renewal information: advertised and served, and the Retry-After of its answers. */
  ari: { enabled: boolean; pollIntervalMs: number };
  /** `challenge` mode: how the validator reaches the names it checks. */
  validation: AcmeValidationConfig;
  /** Per-account limits shared by all replicas (0: no limit). */
  rateLimits: {
    ordersPerHour: number;
    pendingOrders: number;
    keyChangesPerHour: number;
    challengeRespondsPerHour: number;
  };
}

export interface AcmeValidationConfig {
  /** TCP port http-01 connects to (80 in RFC 8555; another port for labs and tests). */
  http01Port: number;
  /** TCP port tls-alpn-01 connects to (443 in RFC 8737; another port for labs and tests). */
  tlsAlpn01Port: number;
  /** Static name -> address overrides used before DNS (CERTCTL_ACME_SERVER_RESOLVE). */
  resolve: Record<string, string>;
  /** host:port of the DNS server asked for dns-01 TXT records; unset: the system resolver. */
  dnsResolver?: { host: string; port: number };
  /** Per-attempt limit of one validation (connect + answer). */
  timeoutMs: number;
  /** Attempts before a challenge is declared invalid (a short backoff between them). */
  attempts: number;
  /** Validations of each type one replica runs at once. */
  concurrency: Record<AcmeChallengeType, number>;
}

export type AcmeChallengeType = 'http-01' | 'dns-01' | 'tls-alpn-01';

type Env = Record<string, string | undefined>;

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function bool(env: Env, problems: string[], name: string, dflt: boolean): boolean {
  const v = str(env, name)?.toLowerCase();
  if (v === undefined) return dflt;
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  problems.push(`${name} must be true or false, got ${JSON.stringify(v)}`);
  return dflt;
}

function url(env: Env, problems: string[], name: string): string | undefined {
  const v = str(env, name);
  if (v === undefined) return undefined;
  try {
    const u = new URL(v);
    if (u.protocol === 'https:' || u.protocol === 'http:') return v;
  } catch {
    // reported below
  }
  problems.push(`${name} must be an http(s) URL, got ${JSON.stringify(v)}`);
  return undefined;
}

/**
 * Names this server read before they were aligned with certctl's (CERTCTL_ACME_SERVER_*).
 * The plain CERTCTL_ACME_* space belongs to certctl's ACME *client* (DIRECTORY_URL, EMAIL,
 * ...), so a leftover one is refused at boot, naming its replacement, rather than silently
 * ignored (an operator who set CERTCTL_ACME_ENABLED would otherwise get no ACME server).
 */
export const RENAMED_ACME_SERVER_VARIABLES: Readonly<Record<string, string>> = {
  CERTCTL_ACME_ENABLED: 'CERTCTL_ACME_SERVER_ENABLED',
  CERTCTL_ACME_ISSUER_ID: 'CERTCTL_ACME_SERVER_ISSUER_ID',
  CERTCTL_ACME_PROFILE_ID: 'CERTCTL_ACME_SERVER_DEFAULT_PROFILE_ID',
  CERTCTL_ACME_AUTH_MODE: 'CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE',
  CERTCTL_ACME_TOS_URL: 'CERTCTL_ACME_SERVER_TOS_URL',
  CERTCTL_ACME_WEBSITE: 'CERTCTL_ACME_SERVER_WEBSITE',
  CERTCTL_ACME_CAA_IDENTITIES: 'CERTCTL_ACME_SERVER_CAA_IDENTITIES',
  CERTCTL_ACME_EAB_REQUIRED: 'CERTCTL_ACME_SERVER_EAB_REQUIRED',
  CERTCTL_ACME_ALLOW_WILDCARDS: 'CERTCTL_ACME_SERVER_ALLOW_WILDCARDS',
  CERTCTL_ACME_ORDER_LIFETIME: 'CERTCTL_ACME_SERVER_ORDER_TTL',
  CERTCTL_ACME_RATE_ORDERS_PER_HOUR: 'CERTCTL_ACME_SERVER_RATE_LIMIT_ORDERS_PER_HOUR',
  CERTCTL_ACME_RATE_PENDING_ORDERS: 'CERTCTL_ACME_SERVER_RATE_LIMIT_CONCURRENT_ORDERS',
  CERTCTL_ACME_RATE_KEY_CHANGES_PER_HOUR: 'CERTCTL_ACME_SERVER_RATE_LIMIT_KEY_CHANGE_PER_HOUR',
  CERTCTL_ACME_HTTP01_PORT: 'CERTCTL_ACME_SERVER_HTTP01_PORT',
  CERTCTL_ACME_TLSALPN01_PORT: 'CERTCTL_ACME_SERVER_TLSALPN01_PORT',
  CERTCTL_ACME_RESOLVE: 'CERTCTL_ACME_SERVER_RESOLVE',
  CERTCTL_ACME_DNS_RESOLVER: 'CERTCTL_ACME_SERVER_DNS01_RESOLVER',
  CERTCTL_ACME_VALIDATION_TIMEOUT_MS: 'CERTCTL_ACME_SERVER_VALIDATION_TIMEOUT_MS',
  CERTCTL_ACME_VALIDATION_ATTEMPTS: 'CERTCTL_ACME_SERVER_VALIDATION_ATTEMPTS',
};

const P = 'CERTCTL_ACME_SERVER_';

/** Reads the ACME server variables; every problem is pushed to `problems` (boot refuses). */
export function readAcmeConfig(env: Env, problems: string[]): AcmeConfig {
  // Object.keys, not a lookup per old name: only variables actually set are touched.
  for (const name of Object.keys(env)) {
    const renamed = RENAMED_ACME_SERVER_VARIABLES[name];
    if (renamed !== undefined && str(env, name) !== undefined) {
      problems.push(`${name} is no longer read: the ACME server's setting is now ${renamed}`);
    }
  }
  const authMode = readAuthMode(env, problems, `${P}DEFAULT_AUTH_MODE`);
  const caa = (str(env, `${P}CAA_IDENTITIES`) ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const c of caa) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(c)) {
      problems.push(`${P}CAA_IDENTITIES: ${JSON.stringify(c)} is not a domain name`);
    }
  }
  const eabRequired = bool(env, problems, `${P}EAB_REQUIRED`, false);
  if (eabRequired && !str(env, 'CERTCTL_CONFIG_ENCRYPTION_KEY')) {
    // EAB HMAC keys are stored sealed with it: without it none can be made or checked.
    problems.push(`${P}EAB_REQUIRED needs CERTCTL_CONFIG_ENCRYPTION_KEY (EAB keys are stored sealed with it)`);
  }
  return {
    enabled: bool(env, problems, `${P}ENABLED`, false),
    issuerId: str(env, `${P}ISSUER_ID`) ?? 'iss-local',
    profileId: str(env, `${P}DEFAULT_PROFILE_ID`),
    authMode,
    termsOfServiceUrl: url(env, problems, `${P}TOS_URL`),
    website: url(env, problems, `${P}WEBSITE`),
    caaIdentities: caa,
    eabRequired,
    allowWildcards: bool(env, problems, `${P}ALLOW_WILDCARDS`, true),
    orderLifetimeMs: duration(env, problems, `${P}ORDER_TTL`, '24h', MINUTE_MS, 30 * DAY_MS),
    authzLifetimeMs: duration(env, problems, `${P}AUTHZ_TTL`, '24h', MINUTE_MS, 30 * DAY_MS),
    nonceTtlMs: duration(env, problems, `${P}NONCE_TTL`, '1h', 10_000, DAY_MS),
    gcIntervalMs: duration(env, problems, `${P}GC_INTERVAL`, '10m', 1_000, DAY_MS),
    ari: {
      enabled: bool(env, problems, `${P}ARI_ENABLED`, true),
      pollIntervalMs: duration(env, problems, `${P}ARI_POLL_INTERVAL`, '6h', MINUTE_MS, 7 * DAY_MS),
    },
    validation: readValidation(env, problems),
    rateLimits: {
      ordersPerHour: int(env, problems, `${P}RATE_LIMIT_ORDERS_PER_HOUR`, 300, 0, 1_000_000),
      pendingOrders: int(env, problems, `${P}RATE_LIMIT_CONCURRENT_ORDERS`, 300, 0, 1_000_000),
      keyChangesPerHour: int(env, problems, `${P}RATE_LIMIT_KEY_CHANGE_PER_HOUR`, 10, 0, 1_000_000),
      challengeRespondsPerHour: int(env, problems, `${P}RATE_LIMIT_CHALLENGE_RESPONDS_PER_HOUR`, 600, 0, 1_000_000),
    },
  };
}

function readAuthMode(env: Env, problems: string[], name: string): AcmeAuthMode {
  const mode = (str(env, name) ?? 'trust_authenticated').toLowerCase();
  if (isAcmeAuthMode(mode)) return mode;
  problems.push(`${name} must be trust_authenticated or challenge, got ${JSON.stringify(mode)}`);
  return 'trust_authenticated';
}

export function isAcmeAuthMode(v: unknown): v is AcmeAuthMode {
  return v === 'trust_authenticated' || v === 'challenge';
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: MINUTE_MS, h: 3_600_000, d: DAY_MS };

/** Go-style durations as certctl takes them: `30s`, `5m`, `24h`, `1h30m`, `7d`. */
function duration(env: Env, problems: string[], name: string, dflt: string, minMs: number, maxMs: number): number {
  const raw = str(env, name) ?? dflt;
  const parts = [...raw.matchAll(/(\d+)(ms|s|m|h|d)/g)];
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * DURATION_UNITS[p[2]], 0);
  const fallback = [...dflt.matchAll(/(\d+)(ms|s|m|h|d)/g)].reduce(
    (sum, p) => sum + Number(p[1]) * DURATION_UNITS[p[2]],
    0,
  );
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== raw) {
    problems.push(`${name} must be a duration such as 30s, 5m or 24h, got ${JSON.stringify(raw)}`);
    return fallback;
  }
  if (ms < minMs || ms > maxMs) {
    problems.push(`${name} must be between ${minMs} ms and ${maxMs} ms, got ${ms} ms`);
    return fallback;
  }
  return ms;
}

function int(env: Env, problems: string[], name: string, dflt: number, min: number, max: number): number {
  const v = str(env, name);
  if (v === undefined) return dflt;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (n >= min && n <= max) return n;
  problems.push(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(v)}`);
  return dflt;
}

function hostPort(v: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:\s]+)):(\d{1,5})$/i.exec(v);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65_535) return undefined;
  return { host: m[1] ?? m[2], port };
}

function readValidation(env: Env, problems: string[]): AcmeValidationConfig {
  const resolve: Record<string, string> = {};
  for (const entry of (str(env, `${P}RESOLVE`) ?? '').split(',').map((e) => e.trim())) {
    if (!entry) continue;
    const eq = entry.indexOf('=');
    const name = entry.slice(0, eq).trim().toLowerCase();
    const addr = entry.slice(eq + 1).trim();
    if (eq <= 0 || !name || isIP(addr) === 0) {
      problems.push(`${P}RESOLVE: ${JSON.stringify(entry)} must be name=IP-address`);
      continue;
    }
    resolve[name] = addr;
  }
  const resolverRaw = str(env, `${P}DNS01_RESOLVER`);
  const dnsResolver = resolverRaw === undefined ? undefined : hostPort(resolverRaw);
  if (resolverRaw !== undefined && (!dnsResolver || isIP(dnsResolver.host) === 0)) {
    problems.push(`${P}DNS01_RESOLVER must be IP:port, got ${JSON.stringify(resolverRaw)}`);
  }
  return {
    http01Port: int(env, problems, `${P}HTTP01_PORT`, 80, 1, 65_535),
    tlsAlpn01Port: int(env, problems, `${P}TLSALPN01_PORT`, 443, 1, 65_535),
    resolve,
    dnsResolver: dnsResolver && isIP(dnsResolver.host) ? dnsResolver : undefined,
    timeoutMs: int(env, problems, `${P}VALIDATION_TIMEOUT_MS`, 5_000, 100, 60_000),
    attempts: int(env, problems, `${P}VALIDATION_ATTEMPTS`, 3, 1, 10),
    concurrency: {
      'http-01': int(env, problems, `${P}HTTP01_CONCURRENCY`, 10, 1, 1_000),
      'dns-01': int(env, problems, `${P}DNS01_CONCURRENCY`, 10, 1, 1_000),
      'tls-alpn-01': int(env, problems, `${P}TLSALPN01_CONCURRENCY`, 10, 1, 1_000),
    },
  };
}
