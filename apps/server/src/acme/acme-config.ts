import { isIP } from 'node:net';

/**
 * ACME server configuration (CERTCTL_ACME_*). `/acme/...` issues through the default
 * issuer and profile; `/acme/profile/{id}/...` through any existing certificate profile
 * (same issuer). Two modes: `trust_authenticated` (an authenticated account's
 * authorizations are valid at once, for internal PKI where the account key is the
 * credential) and `challenge` (http-01 / dns-01 validation as RFC 8555 section 8 describes, tls-alpn-01 as RFC 8737).
 */

export type AcmeAuthMode = 'trust_authenticated' | 'challenge';

export interface AcmeConfig {
  enabled: boolean;
  issuerId: string;
  /** Profile of `/acme/...`; unset: the issuer's rules alone. */
  profileId?: string;
  authMode: AcmeAuthMode;
  termsOfServiceUrl?: string;
  website?: string;
  caaIdentities: string[];
  /** newAccount needs an External Account Binding made from an admin-issued HMAC key. */
  eabRequired: boolean;
  /** newOrder accepts `*.name` identifiers (the profile's SAN rules still decide). */
  allowWildcards: boolean;
  /** Lifetime of a new order and its authorizations. */
  orderLifetimeMs: number;
  /** `challenge` mode: how the validator reaches the names it checks. */
  validation: AcmeValidationConfig;
  /** Per-account limits shared by all replicas (0: no limit). */
  rateLimits: { ordersPerHour: number; pendingOrders: number; keyChangesPerHour: number };
}

export interface AcmeValidationConfig {
  /** TCP port http-01 connects to (80 in RFC 8555; another port for labs and tests). */
  http01Port: number;
  /** TCP port tls-alpn-01 connects to (443 in RFC 8737; another port for labs and tests). */
  tlsAlpn01Port: number;
  /** Static name -> address overrides used before DNS (CERTCTL_ACME_RESOLVE). */
  resolve: Record<string, string>;
  /** host:port of the DNS server asked for dns-01 TXT records; unset: the system resolver. */
  dnsResolver?: { host: string; port: number };
  /** Per-attempt limit of one validation (connect + answer). */
  timeoutMs: number;
  /** Attempts before a challenge is declared invalid (a short backoff between them). */
  attempts: number;
}

type Env = Record<string, string | undefined>;

const HOURS = /^(\d+)h$/;

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

/** Reads the ACME variables; every problem is pushed to `problems` (boot refuses). */
export function readAcmeConfig(env: Env, problems: string[]): AcmeConfig {
  const mode = (str(env, 'CERTCTL_ACME_AUTH_MODE') ?? 'trust_authenticated').toLowerCase();
  if (mode !== 'challenge' && mode !== 'trust_authenticated') {
    problems.push(`CERTCTL_ACME_AUTH_MODE must be trust_authenticated or challenge, got ${JSON.stringify(mode)}`);
  }
  const lifetime = str(env, 'CERTCTL_ACME_ORDER_LIFETIME') ?? '24h';
  const m = HOURS.exec(lifetime);
  const hours = m ? Number(m[1]) : NaN;
  if (!(hours >= 1 && hours <= 720)) {
    problems.push(`CERTCTL_ACME_ORDER_LIFETIME must be hours between 1h and 720h, got ${JSON.stringify(lifetime)}`);
  }
  const caa = (str(env, 'CERTCTL_ACME_CAA_IDENTITIES') ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const c of caa) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(c)) {
      problems.push(`CERTCTL_ACME_CAA_IDENTITIES: ${JSON.stringify(c)} is not a domain name`);
    }
  }
  const eabRequired = bool(env, problems, 'CERTCTL_ACME_EAB_REQUIRED', false);
  if (eabRequired && !str(env, 'CERTCTL_CONFIG_ENCRYPTION_KEY')) {
    // EAB HMAC keys are stored sealed with it: without it none can be made or checked.
    problems.push('CERTCTL_ACME_EAB_REQUIRED needs CERTCTL_CONFIG_ENCRYPTION_KEY (EAB keys are stored sealed with it)');
  }
  return {
    enabled: bool(env, problems, 'CERTCTL_ACME_ENABLED', false),
    issuerId: str(env, 'CERTCTL_ACME_ISSUER_ID') ?? 'iss-local',
    profileId: str(env, 'CERTCTL_ACME_PROFILE_ID'),
    authMode: mode === 'challenge' ? 'challenge' : 'trust_authenticated',
    termsOfServiceUrl: url(env, problems, 'CERTCTL_ACME_TOS_URL'),
    website: url(env, problems, 'CERTCTL_ACME_WEBSITE'),
    caaIdentities: caa,
    eabRequired,
    allowWildcards: bool(env, problems, 'CERTCTL_ACME_ALLOW_WILDCARDS', true),
    orderLifetimeMs: (hours >= 1 && hours <= 720 ? hours : 24) * 3_600_000,
    validation: readValidation(env, problems),
    rateLimits: {
      ordersPerHour: int(env, problems, 'CERTCTL_ACME_RATE_ORDERS_PER_HOUR', 300, 0, 1_000_000),
      pendingOrders: int(env, problems, 'CERTCTL_ACME_RATE_PENDING_ORDERS', 300, 0, 1_000_000),
      keyChangesPerHour: int(env, problems, 'CERTCTL_ACME_RATE_KEY_CHANGES_PER_HOUR', 10, 0, 1_000_000),
    },
  };
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
  for (const entry of (str(env, 'CERTCTL_ACME_RESOLVE') ?? '').split(',').map((e) => e.trim())) {
    if (!entry) continue;
    const eq = entry.indexOf('=');
    const name = entry.slice(0, eq).trim().toLowerCase();
    const addr = entry.slice(eq + 1).trim();
    if (eq <= 0 || !name || isIP(addr) === 0) {
      problems.push(`CERTCTL_ACME_RESOLVE: ${JSON.stringify(entry)} must be name=IP-address`);
      continue;
    }
    resolve[name] = addr;
  }
  const resolverRaw = str(env, 'CERTCTL_ACME_DNS_RESOLVER');
  const dnsResolver = resolverRaw === undefined ? undefined : hostPort(resolverRaw);
  if (resolverRaw !== undefined && (!dnsResolver || isIP(dnsResolver.host) === 0)) {
    problems.push(`CERTCTL_ACME_DNS_RESOLVER must be IP:port, got ${JSON.stringify(resolverRaw)}`);
  }
  return {
    http01Port: int(env, problems, 'CERTCTL_ACME_HTTP01_PORT', 80, 1, 65_535),
    tlsAlpn01Port: int(env, problems, 'CERTCTL_ACME_TLSALPN01_PORT', 443, 1, 65_535),
    resolve,
    dnsResolver: dnsResolver && isIP(dnsResolver.host) ? dnsResolver : undefined,
    timeoutMs: int(env, problems, 'CERTCTL_ACME_VALIDATION_TIMEOUT_MS', 5_000, 100, 60_000),
    attempts: int(env, problems, 'CERTCTL_ACME_VALIDATION_ATTEMPTS', 3, 1, 10),
  };
}
