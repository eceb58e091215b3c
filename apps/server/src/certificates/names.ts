import { isIPv4, isIPv6 } from 'node:net';

/**
 * Pure checks for the names a certificate carries: the subject common name and the
 * subject alternative names (RFC 5280 §4.2.1.6). Each check answers the canonical form or
 * an error phrase that the caller prefixes with the field name.
 */

export type SanType = 'dns' | 'ip' | 'email' | 'uri';

export type NameCheck<T> = { ok: true; value: T } | { ok: false; error: string };

/** RFC 5280 ub-common-name: CAs refuse longer subject CNs. */
export const MAX_COMMON_NAME_LENGTH = 64;
export const MAX_SANS = 250;
const MAX_DNS_LENGTH = 253;
const MAX_EMAIL_LENGTH = 254;
const MAX_URI_LENGTH = 2048;

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const EMAIL_LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const URI_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const OPAQUE_SCHEMES = /^(urn|mailto|tel|sip|sips|did):/i;

const ok = <T>(value: T): NameCheck<T> => ({ ok: true, value });
const fail = <T>(error: string): NameCheck<T> => ({ ok: false, error });

/**
 * A DNS host name in preferred name syntax, lower-cased; with `wildcard`, a leading `*.`
 * label is allowed over at least two further labels (`*.example.com`, not `*.com`).
 */
export function checkDnsName(input: string, opts: { wildcard: boolean }): NameCheck<string> {
  const name = input.toLowerCase();
  if (name.length === 0) return fail('must not be empty');
  if (name.length > MAX_DNS_LENGTH) return fail(`is longer than ${MAX_DNS_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(name)) return fail('must be ASCII: write internationalized names in punycode (xn--)');
  if (name.endsWith('.')) return fail('must not end with a dot');
  const labels = name.split('.');
  let rest = labels;
  if (labels[0] === '*') {
    if (!opts.wildcard) return fail('must not be a wildcard');
    rest = labels.slice(1);
    if (rest.length < 2) return fail('wildcard must cover at least two labels (*.example.com)');
  } else if (labels.some((l) => l.includes('*'))) {
    return fail('may only use * as the whole leftmost label (*.example.com)');
  }
  for (const label of rest) {
    if (!LABEL.test(label)) {
      return fail(
        label.length === 0
          ? 'has an empty label'
          : `has an invalid label ${JSON.stringify(label)} (letters, digits and inner hyphens, 1-63 characters)`,
      );
    }
  }
  if (/^[0-9]+$/.test(rest[rest.length - 1])) return fail('is not a host name (the last label is numeric)');
  return ok(name);
}

/** An IPv4 or IPv6 address in canonical form (IPv6 lower-case and compressed). */
export function checkIpAddress(input: string): NameCheck<string> {
  if (isIPv4(input)) return ok(input);
  if (isIPv6(input)) {
    if (input.includes('%')) return fail('must not carry an IPv6 zone id');
    return ok(new URL(`http://[${input}]/`).hostname.slice(1, -1));
  }
  return fail('is not an IP address');
}

/** An rfc822Name mailbox: the domain part is lower-cased (the local part is case-sensitive). */
export function checkEmail(input: string): NameCheck<string> {
  if (input.length > MAX_EMAIL_LENGTH) return fail(`is longer than ${MAX_EMAIL_LENGTH} characters`);
  const at = input.lastIndexOf('@');
  const local = input.slice(0, at);
  const domain = input.slice(at + 1);
  if (at <= 0 || local.length > 64 || !EMAIL_LOCAL.test(local)) return fail('is not a valid email address');
  const d = checkDnsName(domain, { wildcard: false });
  if (!d.ok) return fail(`is not a valid email address (domain ${d.error})`);
  return ok(`${local}@${d.value}`);
}

/**
 * An absolute URI (scheme and scheme-specific part, RFC 3986); one with an authority
 * must name a host (RFC 5280 §4.2.1.6), e.g. `spiffe://prod.example.com/api`.
 */
export function checkUri(input: string): NameCheck<string> {
  if (input.length > MAX_URI_LENGTH) return fail(`is longer than ${MAX_URI_LENGTH} characters`);
  if (!URI_SCHEME.test(input) || /[\s<>"{}|\\^`]/.test(input)) return fail('is not an absolute URI');
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return fail('is not an absolute URI');
  }
  const schemeSpecific = input.slice(url.protocol.length);
  if (schemeSpecific.length === 0) return fail('is not an absolute URI (nothing after the scheme)');
  if (schemeSpecific.startsWith('//') && url.hostname === '') return fail('names an authority without a host');
  return ok(input);
}

/** A subject common name: a DNS name (wildcard allowed) or an IP address, at most 64 characters. */
export function checkCommonName(input: string): NameCheck<string> {
  if (input.length > MAX_COMMON_NAME_LENGTH) {
    return fail(`is longer than ${MAX_COMMON_NAME_LENGTH} characters (RFC 5280 ub-common-name)`);
  }
  const ip = checkIpAddress(input);
  if (ip.ok) return ip;
  const dns = checkDnsName(input, { wildcard: true });
  if (dns.ok) return dns;
  return fail(`is neither a DNS name nor an IP address (${dns.error})`);
}

/** Classifies one SAN entry: IP, then email (`@` without a scheme), then URI (`scheme:`), else DNS. */
export function checkSan(input: string): NameCheck<{ type: SanType; value: string }> {
  const typed = (type: SanType, r: NameCheck<string>): NameCheck<{ type: SanType; value: string }> =>
    r.ok ? ok({ type, value: r.value }) : fail(`${JSON.stringify(input)} ${r.error}`);
  const s = input.trim();
  if (s !== input || s.length === 0) return fail(`${JSON.stringify(input)} must not be empty or padded with spaces`);
  if (isIPv4(s) || isIPv6(s)) return typed('ip', checkIpAddress(s));
  const scheme = URI_SCHEME.test(s);
  if (s.includes('@') && !scheme) return typed('email', checkEmail(s));
  // `host:port` also parses as a URI; only hierarchical (`scheme://`) and the common opaque
  // schemes count as URIs, so such a typo reads as the bad DNS name it is.
  if (scheme && (s.includes('://') || OPAQUE_SCHEMES.test(s))) return typed('uri', checkUri(s));
  const dns = checkDnsName(s, { wildcard: true });
  if (dns.ok) return ok({ type: 'dns', value: dns.value });
  return fail(
    `${JSON.stringify(input)} is not a DNS name, IP address, email address or URI (as a DNS name it ${dns.error})`,
  );
}

/**
 * Validates every entry and drops duplicates (compared in canonical form: DNS names and
 * email domains case-insensitively, IPv6 compressed), keeping the first occurrence's order.
 */
export function normalizeSans(inputs: readonly string[]): NameCheck<string[]> {
  if (inputs.length > MAX_SANS) return fail(`has ${inputs.length} entries; at most ${MAX_SANS} are allowed`);
  const seen = new Set<string>();
  const out: string[] = [];
  for (const [i, raw] of inputs.entries()) {
    const r = checkSan(raw);
    if (!r.ok) return fail(`entry ${i}: ${r.error}`);
    const key = `${r.value.type}:${r.value.value}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(r.value.value);
  }
  return ok(out);
}
