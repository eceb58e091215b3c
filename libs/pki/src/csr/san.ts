import { isIP } from 'node:net';
import { invalid } from '@certctl/domain';

/** Subject alternative names certctl issues and polices (RFC 5280 4.2.1.6). */
export interface SubjectAltNames {
  dns: string[];
  ip: string[];
  email: string[];
  uri: string[];
}

export const emptySans = (): SubjectAltNames => ({ dns: [], ip: [], email: [], uri: [] });

export function sanCount(s: SubjectAltNames): number {
  return s.dns.length + s.ip.length + s.email.length + s.uri.length;
}

/** Hard ceiling on SANs in one certificate, whatever a profile says (encode cost, DoS). */
export const MAX_SANS_HARD_LIMIT = 1000;

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * Lower-cased DNS name when `name` is a syntactically valid host name (LDH labels, 1-63
 * characters each, at most 253 in all, A-labels for IDNs, no trailing dot); `*` is
 * accepted as a whole left-most label when `allowWildcard` and at least two labels
 * follow it. Undefined otherwise.
 */
export function normalizeDnsName(name: string, allowWildcard = true): string | undefined {
  const n = name.toLowerCase();
  if (n.length === 0 || n.length > 253) return undefined;
  const labels = n.split('.');
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === '*' && i === 0 && allowWildcard && labels.length >= 3) continue;
    if (!LABEL.test(labels[i])) return undefined;
  }
  return n;
}

/** Canonical text of an IPv4 or IPv6 address (IPv6 compressed per RFC 5952), or undefined. */
export function normalizeIp(ip: string): string | undefined {
  const v = isIP(ip);
  if (v === 4) return ip.split('.').every((p) => p === String(Number(p))) ? ip : undefined; // no leading zeros
  if (v === 6 && !ip.includes('%')) return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  return undefined;
}

/** The 4 or 16 octets of a (valid) IP address, for name-constraint matching. */
export function ipBytes(ip: string): Uint8Array | undefined {
  const v = isIP(ip);
  if (v === 4) return Uint8Array.from(ip.split('.').map(Number));
  if (v !== 6) return undefined;
  const canonical = normalizeIp(ip);
  if (canonical === undefined) return undefined;
  let text = canonical;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4tail) {
    const b = v4tail[1].split('.').map(Number);
    text =
      text.slice(0, -v4tail[1].length) + `${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  return out;
}

const EMAIL_LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$/;

/** `local@domain` with an ASCII dot-atom local part and a valid host name; domain lower-cased. */
export function normalizeEmail(email: string): string | undefined {
  const at = email.lastIndexOf('@');
  if (at <= 0) return undefined;
  const local = email.slice(0, at);
  const domain = normalizeDnsName(email.slice(at + 1), false);
  if (!domain || !EMAIL_LOCAL.test(local) || local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
    return undefined;
  }
  return `${local}@${domain}`;
}

/** An absolute URI (scheme + rest) of printable ASCII (RFC 3986 IA5), e.g. spiffe://td/ns/x. */
export function normalizeUri(uri: string): string | undefined {
  if (uri.length > 2048 || !/^[a-zA-Z][a-zA-Z0-9+.-]*:[\x21-\x7e]+$/.test(uri)) return undefined;
  try {
    new URL(uri);
    return uri;
  } catch {
    return undefined;
  }
}

/**
 * Validates and normalizes SANs (lower-cased DNS names and email domains, canonical IPs,
 * duplicates dropped). Throws Validation naming `${field}.dns` etc. and the bad value.
 */
export function normalizeSans(input: Partial<SubjectAltNames>, field = 'sans'): SubjectAltNames {
  const out = emptySans();
  const add = (kind: keyof SubjectAltNames, values: unknown, fn: (v: string) => string | undefined, what: string) => {
    if (values === undefined) return;
    if (!Array.isArray(values)) throw invalid(`${field}.${kind}: must be a list`);
    for (const v of values) {
      const n = typeof v === 'string' ? fn(v) : undefined;
      if (n === undefined) throw invalid(`${field}.${kind}: ${JSON.stringify(v)} is not a valid ${what}`);
      if (!out[kind].includes(n)) out[kind].push(n);
    }
  };
  add('dns', input.dns, (v) => normalizeDnsName(v), 'DNS name');
  add('ip', input.ip, normalizeIp, 'IP address');
  add('email', input.email, normalizeEmail, 'email address');
  add('uri', input.uri, normalizeUri, 'URI');
  if (sanCount(out) > MAX_SANS_HARD_LIMIT) throw invalid(`${field}: more than ${MAX_SANS_HARD_LIMIT} names`);
  return out;
}

/**
 * A subject CN that relying parties may treat as a host name: OpenSSL falls back to the CN
 * for host-name checks and name constraints when a certificate has no DNS SAN, so certctl
 * polices such a CN like a DNS SAN and copies it into the SANs (CA/B BR 7.1.4.3). Returns
 * `{dns}` for a dotted host name, `{ip}` for an IP literal, else undefined (e.g. "dev1").
 */
export function commonNameAsSan(cn: string | undefined): { dns?: string; ip?: string } | undefined {
  if (cn === undefined) return undefined;
  const ip = normalizeIp(cn);
  if (ip) return { ip };
  if (!cn.includes('.')) return undefined;
  const dns = normalizeDnsName(cn);
  return dns ? { dns } : undefined;
}

/** The SANs a certificate for (cn, sans) will carry: the SANs plus a host-name-like CN. */
export function effectiveSans(cn: string | undefined, sans: SubjectAltNames): SubjectAltNames {
  const extra = commonNameAsSan(cn);
  if (!extra) return sans;
  const out: SubjectAltNames = { dns: [...sans.dns], ip: [...sans.ip], email: [...sans.email], uri: [...sans.uri] };
  if (extra.dns && !out.dns.includes(extra.dns)) out.dns.unshift(extra.dns);
  if (extra.ip && !out.ip.includes(extra.ip)) out.ip.unshift(extra.ip);
  return out;
}
