/**
 * EST and SCEP configuration. Both protocols serve a default label (`/.well-known/est/`,
 * `/scep`) from CERTCTL_EST_* / CERTCTL_SCEP_*, and any number of named labels listed in
 * CERTCTL_EST_PROFILES / CERTCTL_SCEP_PROFILES, each configured by
 * CERTCTL_EST_PROFILE_<LABEL>_<SETTING> (label upper-cased, `-` as `_`). A label maps
 * requests to an issuer and a certificate profile and carries its own credentials.
 */

export type EstAuthMode = 'basic' | 'mtls' | 'both' | 'either';

export interface EstLabelConfig {
  /** '' is the default label. */
  label: string;
  issuerId: string;
  profileId?: string;
  auth: EstAuthMode;
  username?: string;
  /** scrypt hash (see enrollment-password.ts); a plain CERTCTL_EST_PASSWORD is hashed at boot. */
  passwordHash?: string;
  /** Plain password from the environment, hashed once at boot and then dropped. */
  password?: string;
  /** PEM CA certificates that TLS client certificates must chain to (mtls, both, either). */
  trustBundlePath?: string;
  /** Require RFC 9266 tls-exporter channel binding in the CSR's challengePassword. */
  channelBinding: boolean;
  /** simplereenroll may change the subject and SANs of the certificate it renews. */
  allowNameChange: boolean;
  /** Offer /serverkeygen (the server generates the key and returns it once). */
  serverKeygen: boolean;
}

export interface IntuneConfig {
  /** PEM certificate(s) or public key(s) that sign Intune challenge tokens. */
  trustAnchorPath: string;
  /** Expected `aud` claim. */
  audience: string;
  /** Allowed clock skew for iat/nbf/exp. */
  maxSkewMs: number;
  /** Enrollments accepted per device (token `device_id`, else subject) per hour. */
  perDevicePerHour: number;
}

export interface ScepLabelConfig {
  label: string;
  issuerId: string;
  profileId?: string;
  /** Static challenge password; compared in constant time. */
  challengePassword?: string;
  /** RSA RA certificate and key files; when unset an RA is generated per label. */
  raCertPath?: string;
  raKeyPath?: string;
  intune?: IntuneConfig;
}

export interface EnrollmentConfig {
  est: {
    enabled: boolean;
    labels: EstLabelConfig[];
    /** Failed Basic authentications per source IP before it is locked out for `lockoutMs`. */
    maxAuthFailures: number;
    lockoutMs: number;
  };
  scep: {
    enabled: boolean;
    labels: ScepLabelConfig[];
  };
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

type Env = Record<string, string | undefined>;

class Reader {
  constructor(
    private readonly env: Env,
    readonly problems: string[],
  ) {}

  str(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  bool(name: string, dflt: boolean): boolean {
    const v = this.str(name);
    if (v === undefined) return dflt;
    const s = v.toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(s)) return true;
    if (['0', 'false', 'no', 'off'].includes(s)) return false;
    this.problems.push(`${name} must be true or false, got ${JSON.stringify(v)}`);
    return dflt;
  }

  int(name: string, dflt: number, min: number, max: number): number {
    const v = this.str(name);
    if (v === undefined) return dflt;
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!(n >= min && n <= max)) {
      this.problems.push(`${name} must be a whole number between ${min} and ${max}, got ${JSON.stringify(v)}`);
      return dflt;
    }
    return n;
  }

  duration(name: string, dflt: number, min: number, max: number): number {
    const v = this.str(name);
    if (v === undefined) return dflt;
    const m = DURATION.exec(v);
    const ms = m ? Number(m[1]) * UNIT_MS[m[2]] : NaN;
    if (!(ms >= min && ms <= max)) {
      this.problems.push(`${name} must be a duration such as 30s, 5m or 1h between ${min} ms and ${max} ms`);
      return dflt;
    }
    return ms;
  }

  labels(name: string): string[] {
    const raw = this.str(name);
    if (!raw) return [];
    const out: string[] = [];
    for (const l of raw.split(',').map((s) => s.trim().toLowerCase())) {
      if (!l) continue;
      if (!LABEL.test(l)) {
        this.problems.push(`${name}: label ${JSON.stringify(l)} must be 1-32 lowercase letters, digits and dashes`);
      } else if (out.includes(l)) {
        this.problems.push(`${name}: label ${JSON.stringify(l)} is listed twice`);
      } else out.push(l);
    }
    return out;
  }
}

/** CERTCTL_EST_PROFILE_<LABEL>_ prefix of a named label; CERTCTL_EST_ for the default. */
function prefixOf(protocol: 'EST' | 'SCEP', label: string): string {
  return label === ''
    ? `CERTCTL_${protocol}_`
    : `CERTCTL_${protocol}_PROFILE_${label.toUpperCase().replace(/-/g, '_')}_`;
}

function estLabel(r: Reader, label: string): EstLabelConfig {
  const p = prefixOf('EST', label);
  const where = label ? `EST label "${label}"` : 'EST';
  const authRaw = (r.str(`${p}AUTH`) ?? 'basic').toLowerCase();
  let auth: EstAuthMode = 'basic';
  if (['basic', 'mtls', 'both', 'either'].includes(authRaw)) auth = authRaw as EstAuthMode;
  else r.problems.push(`${p}AUTH must be basic, mtls, both or either, got ${JSON.stringify(authRaw)}`);
  const cfg: EstLabelConfig = {
    label,
    issuerId: r.str(`${p}ISSUER_ID`) ?? 'iss-local',
    profileId: r.str(`${p}PROFILE_ID`),
    auth,
    username: r.str(`${p}USERNAME`),
    passwordHash: r.str(`${p}PASSWORD_HASH`),
    password: r.str(`${p}PASSWORD`),
    trustBundlePath: r.str(`${p}TRUST_BUNDLE_PATH`),
    channelBinding: r.bool(`${p}CHANNEL_BINDING`, false),
    allowNameChange: r.bool(`${p}ALLOW_NAME_CHANGE`, false),
    serverKeygen: r.bool(`${p}SERVERKEYGEN`, true),
  };
  const basic = auth !== 'mtls';
  const mtls = auth !== 'basic';
  if (basic && (!cfg.username || !(cfg.passwordHash || cfg.password))) {
    r.problems.push(
      `${where} uses Basic authentication (${p}AUTH=${auth}): set ${p}USERNAME and ${p}PASSWORD_HASH (or ${p}PASSWORD)`,
    );
  }
  if (cfg.passwordHash && cfg.password) {
    r.problems.push(`${where}: set ${p}PASSWORD_HASH or ${p}PASSWORD, not both`);
  }
  if (mtls && !cfg.trustBundlePath) {
    r.problems.push(
      `${where} accepts TLS client certificates (${p}AUTH=${auth}): set ${p}TRUST_BUNDLE_PATH to the PEM CA bundle they must chain to`,
    );
  }
  return cfg;
}

function scepLabel(r: Reader, label: string): ScepLabelConfig {
  const p = prefixOf('SCEP', label);
  const where = label ? `SCEP label "${label}"` : 'SCEP';
  const cfg: ScepLabelConfig = {
    label,
    issuerId: r.str(`${p}ISSUER_ID`) ?? 'iss-local',
    profileId: r.str(`${p}PROFILE_ID`),
    challengePassword: r.str(`${p}CHALLENGE_PASSWORD`),
    raCertPath: r.str(`${p}RA_CERT_PATH`),
    raKeyPath: r.str(`${p}RA_KEY_PATH`),
  };
  if (r.bool(`${p}INTUNE_ENABLED`, false)) {
    const trustAnchorPath = r.str(`${p}INTUNE_TRUST_ANCHOR_PATH`);
    const audience = r.str(`${p}INTUNE_AUDIENCE`);
    if (!trustAnchorPath || !audience) {
      r.problems.push(
        `${where} has Intune enabled: set ${p}INTUNE_TRUST_ANCHOR_PATH (PEM certificate or public key signing the challenges) and ${p}INTUNE_AUDIENCE`,
      );
    } else {
      cfg.intune = {
        trustAnchorPath,
        audience,
        maxSkewMs: r.duration(`${p}INTUNE_MAX_SKEW`, 300_000, 0, 3_600_000),
        perDevicePerHour: r.int(`${p}INTUNE_DEVICE_RATE_LIMIT`, 10, 1, 100_000),
      };
    }
  }
  if (!cfg.challengePassword && !cfg.intune) {
    // CWE-306: an enrollment endpoint without a credential issues to anyone who asks.
    r.problems.push(
      `${where} is enabled without a credential: set ${p}CHALLENGE_PASSWORD (or enable Intune with ${p}INTUNE_ENABLED)`,
    );
  }
  if (cfg.challengePassword !== undefined && cfg.challengePassword.length < 8) {
    r.problems.push(`${p}CHALLENGE_PASSWORD must be at least 8 characters`);
  }
  if (!!cfg.raCertPath !== !!cfg.raKeyPath) {
    r.problems.push(`${p}RA_CERT_PATH and ${p}RA_KEY_PATH must be set together`);
  }
  return cfg;
}

/** Reads the EST/SCEP variables; every problem is pushed to `problems` (boot refuses). */
export function readEnrollmentConfig(env: Env, problems: string[]): EnrollmentConfig {
  const r = new Reader(env, problems);
  const estEnabled = r.bool('CERTCTL_EST_ENABLED', false);
  const scepEnabled = r.bool('CERTCTL_SCEP_ENABLED', false);
  const est: EstLabelConfig[] = [];
  const scep: ScepLabelConfig[] = [];
  if (estEnabled) {
    est.push(estLabel(r, ''));
    for (const l of r.labels('CERTCTL_EST_PROFILES')) est.push(estLabel(r, l));
  }
  if (scepEnabled) {
    scep.push(scepLabel(r, ''));
    for (const l of r.labels('CERTCTL_SCEP_PROFILES')) scep.push(scepLabel(r, l));
  }
  return {
    est: {
      enabled: estEnabled,
      labels: est,
      maxAuthFailures: r.int('CERTCTL_EST_AUTH_MAX_FAILURES', 10, 1, 1_000_000),
      lockoutMs: r.duration('CERTCTL_EST_AUTH_LOCKOUT', 900_000, 1_000, 86_400_000),
    },
    scep: { enabled: scepEnabled, labels: scep },
  };
}
