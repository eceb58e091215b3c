import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { compactVerify, errors as joseErrors } from 'jose';
import {
  normalizeDnsName,
  normalizeEmail,
  normalizeIp,
  normalizeUri,
  pemBlocks,
  type ParsedCsr,
  type SubjectAltNames,
} from '@certctl/pki';
import { AppConfig, ConfigError } from '../config/config.schema';
import { RedisService, withTimeout } from '../redis/redis.service';
import type { IntuneConfig } from './enrollment-config';

/** An accepted Intune challenge. */
export interface IntuneVerdict {
  /** The device the token was issued for (rate limits and audit). */
  deviceId: string;
  /** The token's `jti` (single use). */
  tokenId: string;
}

/** A refused Intune challenge; `reason` is audited and never sent to the client in detail. */
export class IntuneRejection extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'IntuneRejection';
  }
}

/** Signature algorithms accepted, with the kind of trust anchor key each needs. */
const ALGORITHMS: Record<string, AnchorKind> = { RS256: 'RSA', ES256: 'EC P-256' };

/**
 * Header parameters that carry or point at a verification key (or demand extensions we do
 * not implement). The key must come from the operator's trust anchor file, never from the
 * token, so their mere presence refuses the token.
 */
const FORBIDDEN_HEADERS = ['jwk', 'jku', 'x5u', 'crit'];

/** Longest token accepted; real challenges are a few hundred to ~2,000 characters. */
export const INTUNE_MAX_TOKEN_CHARS = 8192;
const MAX_LIFETIME_MS = 24 * 3_600_000;
const RATE_WINDOW_MS = 3_600_000;
const REDIS_TIMEOUT_MS = 2_000;
const SEGMENT = /^[A-Za-z0-9_-]*$/;
const OID_UPN = '1.3.6.1.4.1.311.20.2.3';

/** The SAN claims of a token and the CSR SAN kind each maps to. */
const SAN_CLAIMS: ReadonlyArray<{
  claim: string;
  kind: keyof SubjectAltNames;
  what: string;
  normalize: (v: string) => string | undefined;
}> = [
  { claim: 'dns', kind: 'dns', what: 'DNS name', normalize: (v) => normalizeDnsName(v) },
  { claim: 'ip', kind: 'ip', what: 'IP address', normalize: normalizeIp },
  { claim: 'email', kind: 'email', what: 'email address', normalize: normalizeEmail },
  { claim: 'uri', kind: 'uri', what: 'URI', normalize: normalizeUri },
];

type AnchorKind = 'RSA' | 'EC P-256';

interface Anchor {
  key: KeyObject;
  kind: AnchorKind;
  /** What to call it in reasons: "certificate CN=..." or "public key #2". */
  name: string;
  /** Validity of a certificate anchor (ms); public keys have none. */
  notBefore?: number;
  notAfter?: number;
}

interface Claims {
  /** exp in ms since 1970. */
  expMs: number;
  jti: string;
  deviceId: string;
  cn: string;
  sans: SubjectAltNames;
}

/**
 * Lua run atomically in Redis, so two replicas handed the same token cannot both accept it
 * and the device count cannot race past its limit. KEYS[1] = jti marker, KEYS[2] = device
 * counter; ARGV = jti TTL ms, limit, window ms. Replies {0} replayed, {1, pttl} over the
 * limit (the token is left unused), {2, count} accepted.
 */
const CONSUME_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, 0} end
local n = tonumber(redis.call('GET', KEYS[2]) or '0')
if n >= tonumber(ARGV[2]) then return {1, redis.call('PTTL', KEYS[2])} end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
n = redis.call('INCR', KEYS[2])
if redis.call('PTTL', KEYS[2]) < 0 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return {2, n}
`;

/**
 * Microsoft Intune dynamic SCEP challenges (NDES replacement): the challengePassword is a
 * compact JWS signed by the operator's Intune connector. verify() checks the signature
 * against the label's trust anchor file, the time and audience claims, that the CSR asks
 * for exactly the names the token grants, then consumes the token (single use) and counts
 * the device against its hourly limit in Redis. See docs/operator/intune.md.
 */
@Injectable()
export class IntuneChallengeService implements OnModuleInit {
  /** Trust anchors by file path, read once (a changed file needs a restart, like the TLS key). */
  private readonly anchorsByPath = new Map<string, Anchor[]>();

  constructor(
    private readonly config: AppConfig,
    private readonly redis: RedisService,
  ) {}

  /** Refuses boot when any SCEP label's Intune trust anchor file is unusable. */
  onModuleInit(): void {
    if (!this.config.enrollment.scep.enabled) return;
    const problems: string[] = [];
    for (const l of this.config.enrollment.scep.labels) {
      if (!l.intune) continue;
      try {
        this.checkConfig(l.intune, l.label);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        problems.push(...e.problems);
      }
    }
    if (problems.length) throw new ConfigError(problems);
  }

  /** Loads (and caches) a label's trust anchors; throws ConfigError naming the file and the problem. */
  checkConfig(cfg: IntuneConfig, label = ''): void {
    try {
      this.anchors(cfg.trustAnchorPath);
    } catch (e) {
      if (!(e instanceof IntuneRejection)) throw e;
      const where = label ? `SCEP label "${label}"` : 'SCEP';
      throw new ConfigError([`${where}: Intune ${e.reason}`]);
    }
  }

  /** Verifies `token` for a label's Intune settings and the CSR it came with; throws IntuneRejection. */
  async verify(label: string, cfg: IntuneConfig, token: string, csr: ParsedCsr): Promise<IntuneVerdict> {
    const now = Date.now();
    const [headerB64] = splitToken(token);
    const alg = checkHeader(jsonObject(Buffer.from(headerB64, 'base64url'), 'header'));
    const payload = await this.verifySignature(token, alg, this.anchors(cfg.trustAnchorPath), now);
    const claims = readClaims(payload, cfg, now);
    matchCsr(claims, csr);
    await this.consume(label, cfg, claims, now);
    return { deviceId: claims.deviceId, tokenId: claims.jti };
  }

  private anchors(path: string): Anchor[] {
    let anchors = this.anchorsByPath.get(path);
    if (!anchors) {
      anchors = loadAnchors(path);
      this.anchorsByPath.set(path, anchors);
    }
    return anchors;
  }

  private async verifySignature(
    token: string,
    alg: string,
    anchors: Anchor[],
    now: number,
  ): Promise<Record<string, unknown>> {
    const kind = ALGORITHMS[alg];
    const ofKind = anchors.filter((a) => a.kind === kind);
    if (ofKind.length === 0) {
      throw new IntuneRejection(`alg ${alg} needs an ${kind} trust anchor, and the trust anchor file has none`);
    }
    const current = ofKind.filter((a) => (a.notBefore ?? -Infinity) <= now && now <= (a.notAfter ?? Infinity));
    if (current.length === 0) {
      throw new IntuneRejection(
        `every ${kind} trust anchor certificate is outside its validity period (${ofKind.map((a) => a.name).join(', ')})`,
      );
    }
    for (const anchor of current) {
      try {
        const { payload } = await compactVerify(token, anchor.key, { algorithms: [alg] });
        return jsonObject(payload, 'payload');
      } catch (e) {
        if (e instanceof IntuneRejection) throw e;
        // A signature that fails under one anchor may verify under the next (key rollover).
        if (e instanceof joseErrors.JWSSignatureVerificationFailed) continue;
        throw new IntuneRejection(`signature cannot be checked: ${(e as Error).message}`);
      }
    }
    throw new IntuneRejection('signature does not verify');
  }

  private async consume(label: string, cfg: IntuneConfig, claims: Claims, now: number): Promise<void> {
    const scope = label === '' ? '_' : label; // '_' is not a valid label name
    const jtiKey = this.redis.key('scep', scope, 'intune-jti', sha256(claims.jti));
    const deviceKey = this.redis.key('scep', scope, 'intune-device', sha256(claims.deviceId));
    // Keep the marker for as long as the token could still pass the exp check.
    const ttlMs = Math.max(1_000, Math.ceil(claims.expMs + cfg.maxSkewMs - now)); // NumericDates may be fractional
    let reply: unknown;
    try {
      reply = await withTimeout(
        this.redis.client.eval(
          CONSUME_SCRIPT,
          2,
          jtiKey,
          deviceKey,
          String(ttlMs),
          String(cfg.perDevicePerHour),
          String(RATE_WINDOW_MS),
        ),
        REDIS_TIMEOUT_MS,
        'Intune replay check',
      );
    } catch (e) {
      throw new IntuneRejection(
        `jti replay and device rate limit cannot be checked without Redis (${(e as Error).message}); rejected`,
      );
    }
    const [code, n] = Array.isArray(reply) ? reply.map(Number) : [NaN, NaN];
    if (code === 0) throw new IntuneRejection(`jti replayed (token ${shown(claims.jti)} was already used)`);
    if (code === 1) {
      throw new IntuneRejection(
        `device rate limit ${cfg.perDevicePerHour}/h reached for device_id ${shown(claims.deviceId)}` +
          ` (retry in ${Math.max(1, Math.ceil(n / 1000))} s)`,
      );
    }
    if (code !== 2) throw new IntuneRejection(`unexpected reply from the Redis replay check: ${shown(reply)}`);
  }
}

function sha256(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

/** A value quoted for an audit reason, cut short: header fields are unauthenticated input. */
function shown(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

const secondsText = (ms: number): string => `${Math.round(ms / 1000)} s`;

function splitToken(token: string): [string, string, string] {
  if (typeof token !== 'string' || token.length === 0) throw new IntuneRejection('challenge is empty');
  if (token.length > INTUNE_MAX_TOKEN_CHARS) {
    throw new IntuneRejection(`challenge is ${token.length} characters, over the ${INTUNE_MAX_TOKEN_CHARS} maximum`);
  }
  const parts = token.split('.');
  if (parts.length !== 3) {
    throw new IntuneRejection(`challenge is not a compact JWS (${parts.length} dot-separated parts, expected 3)`);
  }
  // Empty payload or signature segments are left to the signature check, so that an
  // unsigned `alg: none` token is refused for its algorithm first.
  const names = ['header', 'payload', 'signature'];
  parts.forEach((p, i) => {
    if (!SEGMENT.test(p) || (i === 0 && p.length === 0)) {
      throw new IntuneRejection(`challenge JWS ${names[i]} is not base64url`);
    }
  });
  return parts as [string, string, string];
}

function jsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new IntuneRejection(`challenge JWS ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new IntuneRejection(`challenge JWS ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Decides the algorithm from the header alone, before any key is touched. */
function checkHeader(header: Record<string, unknown>): string {
  const alg = header.alg;
  if (typeof alg !== 'string') throw new IntuneRejection('JWS header has no alg');
  if (!Object.hasOwn(ALGORITHMS, alg)) {
    throw new IntuneRejection(
      `alg ${/^[\w+-]{1,20}$/.test(alg) ? alg : shown(alg)} not allowed (only RS256 and ES256)`,
    );
  }
  const bad = FORBIDDEN_HEADERS.filter((h) => Object.hasOwn(header, h));
  if (bad.length) {
    throw new IntuneRejection(
      `JWS header carries ${bad.join(', ')}: keys and extensions named by the token are not accepted`,
    );
  }
  return alg;
}

function numericDate(payload: Record<string, unknown>, name: string, required: boolean): number | undefined {
  const v = payload[name];
  if (v === undefined) {
    if (required) throw new IntuneRejection(`claim ${name} is missing`);
    return undefined;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new IntuneRejection(`claim ${name} must be a NumericDate (seconds since 1970)`);
  }
  return v * 1000;
}

function requiredString(payload: Record<string, unknown>, name: string): string {
  const v = payload[name];
  if (v === undefined) throw new IntuneRejection(`claim ${name} is missing`);
  if (typeof v !== 'string' || v.length === 0 || v.length > 1024) {
    throw new IntuneRejection(`claim ${name} must be a non-empty string of at most 1024 characters`);
  }
  return v;
}

function readClaims(payload: Record<string, unknown>, cfg: IntuneConfig, now: number): Claims {
  const skew = cfg.maxSkewMs;
  const skewNote = `allowed skew ${secondsText(skew)}`;
  const iat = numericDate(payload, 'iat', true) as number;
  const exp = numericDate(payload, 'exp', true) as number;
  const nbf = numericDate(payload, 'nbf', false);
  if (exp <= iat) throw new IntuneRejection('claim exp is not after iat');
  if (exp - iat > MAX_LIFETIME_MS) {
    throw new IntuneRejection(`token lifetime ${secondsText(exp - iat)} exceeds the 24 h maximum`);
  }
  if (iat > now + skew) {
    throw new IntuneRejection(`token issued ${secondsText(iat - now)} in the future (iat; ${skewNote})`);
  }
  if (nbf !== undefined && nbf > now + skew) {
    throw new IntuneRejection(`token not valid for another ${secondsText(nbf - now)} (nbf; ${skewNote})`);
  }
  if (now > exp + skew) throw new IntuneRejection(`token expired ${secondsText(now - exp)} ago (${skewNote})`);

  const aud = payload.aud;
  if (aud === undefined) throw new IntuneRejection('claim aud is missing');
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : undefined;
  if (!audiences || !audiences.every((a) => typeof a === 'string')) {
    throw new IntuneRejection('claim aud must be a string or a list of strings');
  }
  if (!audiences.includes(cfg.audience)) {
    throw new IntuneRejection(`aud ${shown(aud)} does not include ${shown(cfg.audience)}`);
  }

  const jti = requiredString(payload, 'jti');
  const deviceId = requiredString(payload, 'device_id');
  const cn = requiredString(payload, 'cn');
  if (payload.upn !== undefined) {
    throw new IntuneRejection(
      'claim upn is not supported: certctl does not issue UPN (otherName) SANs; remove the UPN SAN from the Intune SCEP profile',
    );
  }
  const sans: SubjectAltNames = { dns: [], ip: [], email: [], uri: [] };
  for (const { claim, kind, what, normalize } of SAN_CLAIMS) {
    const raw = payload[claim];
    if (raw === undefined) continue;
    const list = typeof raw === 'string' ? [raw] : raw;
    if (!Array.isArray(list)) throw new IntuneRejection(`claim ${claim} must be a string or a list of strings`);
    for (const v of list) {
      const n = typeof v === 'string' ? normalize(v) : undefined;
      if (n === undefined) throw new IntuneRejection(`claim ${claim}: ${shown(v)} is not a valid ${what}`);
      if (!sans[kind].includes(n)) sans[kind].push(n);
    }
  }
  return { expMs: exp, jti, deviceId, cn, sans };
}

/** The CSR must ask for exactly the subject CN and SANs the token grants: no more, no fewer. */
function matchCsr(claims: Claims, csr: ParsedCsr): void {
  if (csr.commonName === undefined) {
    throw new IntuneRejection(`the CSR has no CN; the token names cn ${shown(claims.cn)}`);
  }
  if (csr.commonName !== claims.cn) {
    throw new IntuneRejection(`cn ${shown(claims.cn)} does not match the CSR CN ${shown(csr.commonName)}`);
  }
  const differences: string[] = [];
  for (const { claim, kind } of SAN_CLAIMS) {
    const granted = new Set(claims.sans[kind]);
    const asked = new Set(csr.sans[kind]);
    for (const v of asked) if (!granted.has(v)) differences.push(`CSR SAN ${claim} ${shown(v)} is not in the token`);
    for (const v of granted)
      if (!asked.has(v)) differences.push(`token SAN ${claim} ${shown(v)} is missing from the CSR`);
  }
  for (const u of csr.unsupportedSans) {
    const upn = u === `otherName ${OID_UPN}`;
    differences.push(`CSR SAN ${upn ? 'upn (otherName)' : u} is a form certctl does not issue`);
  }
  if (differences.length) throw new IntuneRejection(differences.join('; '));
}

/** Reads a PEM trust anchor file: certificates and/or public keys, RSA (>= 2048 bits) or EC P-256. */
function loadAnchors(path: string): Anchor[] {
  const fail = (problem: string): never => {
    throw new IntuneRejection(`trust anchor ${path}: ${problem}`);
  };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return fail(`cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (text.trim() === '') fail('is empty');
  let blocks: ReturnType<typeof pemBlocks>;
  try {
    blocks = pemBlocks(text, 'file');
  } catch (e) {
    return fail((e as Error).message.replace(/^file: /, ''));
  }
  if (blocks.length === 0) fail('holds no PEM block (expected CERTIFICATE or PUBLIC KEY)');
  const anchors: Anchor[] = [];
  blocks.forEach((b, i) => {
    const at = `block ${i + 1} (${b.label})`;
    if (b.label.includes('PRIVATE KEY')) fail(`${at} is a private key: give only the certificate or public key`);
    let key: KeyObject;
    let name: string;
    let validity: { notBefore?: number; notAfter?: number } = {};
    try {
      if (b.label === 'CERTIFICATE') {
        const cert = new X509Certificate(b.der);
        key = cert.publicKey;
        name = `certificate ${cert.subject.replace(/\n/g, ', ')}`;
        validity = { notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
      } else if (b.label === 'PUBLIC KEY') {
        key = createPublicKey({ key: Buffer.from(b.der), format: 'der', type: 'spki' });
        name = `public key #${i + 1}`;
      } else if (b.label === 'RSA PUBLIC KEY') {
        key = createPublicKey({ key: Buffer.from(b.der), format: 'der', type: 'pkcs1' });
        name = `public key #${i + 1}`;
      } else {
        return fail(`${at} is not a CERTIFICATE or PUBLIC KEY`);
      }
    } catch (e) {
      if (e instanceof IntuneRejection) throw e;
      return fail(`${at} cannot be parsed (${(e as Error).message})`);
    }
    anchors.push({ key, kind: anchorKind(key, at, fail), name, ...validity });
  });
  return anchors;
}

function anchorKind(key: KeyObject, at: string, fail: (problem: string) => never): AnchorKind {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    if ((d.modulusLength ?? 0) < 2048)
      fail(`${at} is an RSA key of ${d.modulusLength} bits (RS256 needs 2048 or more)`);
    return 'RSA';
  }
  if (key.asymmetricKeyType === 'ec' && d.namedCurve === 'prime256v1') return 'EC P-256';
  const what = key.asymmetricKeyType === 'ec' ? `an EC ${d.namedCurve} key` : `a ${key.asymmetricKeyType} key`;
  return fail(`${at} is ${what}; only RSA (RS256) and EC P-256 (ES256) keys can sign Intune challenges`);
}
