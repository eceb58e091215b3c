/**
 * ACME server configuration (CERTCTL_ACME_*). `/acme/...` issues through the default
 * issuer and profile; `/acme/profile/{id}/...` through any existing certificate profile
 * (same issuer). Only the `trust_authenticated` mode is served in this version: an
 * authenticated account's authorizations are valid at once, for internal PKI where the
 * account key is the credential. Real challenge validation is refused at boot until it exists.
 */

export type AcmeAuthMode = 'trust_authenticated';

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
  if (mode === 'challenge') {
    problems.push(
      'CERTCTL_ACME_AUTH_MODE=challenge (http-01/dns-01 validation) is not available yet: use trust_authenticated',
    );
  } else if (mode !== 'trust_authenticated') {
    problems.push(`CERTCTL_ACME_AUTH_MODE must be trust_authenticated, got ${JSON.stringify(mode)}`);
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
    authMode: 'trust_authenticated',
    termsOfServiceUrl: url(env, problems, 'CERTCTL_ACME_TOS_URL'),
    website: url(env, problems, 'CERTCTL_ACME_WEBSITE'),
    caaIdentities: caa,
    eabRequired,
    allowWildcards: bool(env, problems, 'CERTCTL_ACME_ALLOW_WILDCARDS', true),
    orderLifetimeMs: (hours >= 1 && hours <= 720 ? hours : 24) * 3_600_000,
  };
}
