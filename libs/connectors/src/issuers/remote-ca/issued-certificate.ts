import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { DomainError, ErrorCode, invalid } from '@certctl/domain';
import type { ParsedCsr } from '@certctl/pki';
import type { IssuanceRequest, IssuanceResult } from '../issuer-port';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every PEM certificate block in `text`, normalized to end with a newline. */
export function pemCertificates(text: string): string[] {
  return (text.match(PEM_CERT) ?? []).map((b) => `${b.trim()}\n`);
}

/**
 * The CA certificates of a JSON answer that has a list field (Vault `ca_chain`, step-ca
 * `certChain`, CAS `pemCertificateChain`) and, in older versions, only a single one
 * (`issuing_ca`, `ca`): the strings of the list, else the single string, else none.
 */
export function chainField(list: unknown, single?: unknown): string[] {
  if (Array.isArray(list)) return list.filter((c): c is string => typeof c === 'string');
  return typeof single === 'string' ? [single] : [];
}

function parse(pem: string, what: string, role: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new DomainError(ErrorCode.Unavailable, `${what} returned a ${role} that is not a valid X.509 certificate`);
  }
}

function isSelfSigned(c: X509Certificate): boolean {
  return c.subject === c.issuer && c.checkIssued(c);
}

/**
 * The IssuanceResult of a certificate a remote CA returned. The leaf must carry the
 * public key that was sent (a CA answering with someone else's certificate is refused),
 * and the chain keeps the intermediates above it, nearest first, without a self-signed root.
 */
export function issuanceResult(
  leafPem: string,
  chainPems: readonly string[],
  expectedSpkiDer: Uint8Array,
  what: string,
): IssuanceResult {
  const [leafBlock] = pemCertificates(leafPem);
  if (!leafBlock) throw new DomainError(ErrorCode.Unavailable, `${what} returned no certificate`);
  const leaf = parse(leafBlock, what, 'certificate');
  const spki = leaf.publicKey.export({ type: 'spki', format: 'der' });
  if (!Buffer.from(expectedSpkiDer).equals(spki)) {
    throw new DomainError(
      ErrorCode.Unavailable,
      `${what} returned a certificate for a different public key than the one requested`,
    );
  }
  const seen = new Set<string>([leaf.fingerprint256]);
  const chain: string[] = [];
  for (const block of chainPems.flatMap(pemCertificates)) {
    const c = parse(block, what, 'CA certificate');
    if (seen.has(c.fingerprint256) || isSelfSigned(c)) continue;
    seen.add(c.fingerprint256);
    chain.push(block);
  }
  return {
    certPem: leafBlock,
    chainPem: chain.join(''),
    serialHex: leaf.serialNumber.toLowerCase(),
    fingerprintSha256: leaf.fingerprint256.replace(/:/g, '').toLowerCase(),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
  };
}

/** Remote CAs sign CSRs: the request must carry one (agent, EST, SCEP or server-built). */
export function requireCsr(req: IssuanceRequest, what: string): ParsedCsr {
  if (req.csr) return req.csr;
  throw invalid(
    `${what} signs certificate requests: this issuance has only a public key and no CSR (use agent key generation, or a server key-generation path that builds a CSR)`,
  );
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** A Go-style duration as the config schemas accept it (`720h`, `1h30m`, `30d`, `3600`) in seconds. */
export function durationSeconds(d: string): number {
  if (/^\d+$/.test(d)) return Number(d);
  let total = 0;
  for (const [, n, unit] of d.matchAll(/(\d+)([smhd])/g)) total += Number(n) * UNIT_SECONDS[unit];
  return total;
}

/** An optional configured duration (`ttl`, `validity`, `lifetime`) in seconds, for lifetimeSeconds. */
export function configuredDuration(d: string | undefined): number | undefined {
  return d === undefined ? undefined : durationSeconds(d);
}

/** An optional configured `validity_days` in seconds, for lifetimeSeconds. */
export function configuredDays(days: number | undefined): number | undefined {
  return days === undefined ? undefined : days * 86_400;
}

/**
 * The lifetime to ask the CA for: the requested TTL, else the issuer's configured default,
 * capped at the profile's max TTL; with neither, the profile's max (so the CA never goes
 * beyond the profile when it would default to more). Undefined: let the CA decide.
 */
export function lifetimeSeconds(req: IssuanceRequest, configured: number | undefined): number | undefined {
  const wanted = req.ttlSeconds ?? configured;
  const max = req.profile?.max_ttl_seconds;
  if (max === undefined) return wanted;
  return wanted === undefined ? max : Math.min(wanted, max);
}

const HOST_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{1,63}$/i;

/**
 * The subjectAltNames to ask for, split the way CA APIs take them. A host-name or IP CN is
 * put first (CA/B BR 7.1.4.3: the CN must be one of the SANs), as the Local CA does.
 */
export function sanLists(req: IssuanceRequest): { dns: string[]; ip: string[]; email: string[]; uri: string[] } {
  const dns = [...(req.sans.dns ?? [])];
  const ip = [...(req.sans.ip ?? [])];
  const cn = req.commonName.trim();
  if (isIP(cn)) {
    if (!ip.includes(cn)) ip.unshift(cn);
  } else if (HOST_NAME.test(cn) && !dns.some((d) => d.toLowerCase() === cn.toLowerCase())) {
    dns.unshift(cn.toLowerCase());
  }
  return { dns, ip, email: [...(req.sans.email ?? [])], uri: [...(req.sans.uri ?? [])] };
}

/** Lower-case hex serial, even length (one byte per pair). */
export function evenHex(serialHex: string): string {
  const h = serialHex.toLowerCase().replace(/^0x/, '').replace(/:/g, '');
  if (!/^[0-9a-f]+$/.test(h)) throw invalid(`serial ${JSON.stringify(serialHex)} is not hexadecimal`);
  return h.length % 2 ? `0${h}` : h;
}
