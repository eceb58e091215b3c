// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as A from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { invalid } from '@certctl/domain';
import { ipBytes, normalizeDnsName } from '../csr/san';

/** DNS name constraints of a CA (RFC 5280 4.2.1.10). */
export interface NameConstraintsParams {
  /** `example.com` permits it and every name below it; `.example.com` only names below it. */
  permittedDns?: string[];
  excludedDns?: string[];
}

/** One subtree of a NameConstraints extension, as path validation compares names with it. */
export type Subtree =
  | { kind: 'dns'; value: string }
  | { kind: 'ip'; address: Uint8Array; mask: Uint8Array }
  | { kind: 'email'; value: string }
  | { kind: 'uri'; value: string }
  | { kind: 'dn'; rdns: Uint8Array[] }
  | { kind: 'other'; description: string };

export interface ParsedNameConstraints {
  permitted: Subtree[];
  excluded: Subtree[];
}

/** Lower-cased DNS constraint (`example.com` or `.example.com`); Validation error naming `field` otherwise. */
export function normalizeDnsConstraint(value: string, field: string): string {
  const dot = value.startsWith('.');
  const name = normalizeDnsName(dot ? value.slice(1) : value, false);
  if (!name) throw invalid(`${field}: "${value}" is not a DNS name or .domain`);
  return dot ? `.${name}` : name;
}

/** The critical NameConstraints extension for these DNS subtrees, or undefined when there are none. */
export function nameConstraintsExtension(params: NameConstraintsParams | undefined): x509.Extension | undefined {
  const permitted = (params?.permittedDns ?? []).map((d, i) =>
    normalizeDnsConstraint(d, `name_constraints.permitted_dns[${i}]`),
  );
  const excluded = (params?.excludedDns ?? []).map((d, i) =>
    normalizeDnsConstraint(d, `name_constraints.excluded_dns[${i}]`),
  );
  if (permitted.length === 0 && excluded.length === 0) return undefined;
  const subtrees = (names: string[]) =>
    names.length === 0
      ? undefined
      : new A.GeneralSubtrees(names.map((d) => new A.GeneralSubtree({ base: new A.GeneralName({ dNSName: d }) })));
  const nc = new A.NameConstraints({ permittedSubtrees: subtrees(permitted), excludedSubtrees: subtrees(excluded) });
  return new x509.Extension(A.id_ce_nameConstraints, true, AsnConvert.serialize(nc));
}

/** The name constraints of a certificate, or undefined when it has none. */
export function readNameConstraints(cert: x509.X509Certificate): ParsedNameConstraints | undefined {
  const ext = cert.getExtension(A.id_ce_nameConstraints);
  if (!ext) return undefined;
  const nc = AsnConvert.parse(ext.value, A.NameConstraints);
  return {
    permitted: (nc.permittedSubtrees ?? []).map(toSubtree),
    excluded: (nc.excludedSubtrees ?? []).map(toSubtree),
  };
}

function toSubtree(st: A.GeneralSubtree): Subtree {
  const b = st.base;
  if (st.minimum !== 0 || st.maximum !== undefined)
    return { kind: 'other', description: 'subtree with minimum/maximum' };
  if (b.dNSName !== undefined) return { kind: 'dns', value: b.dNSName.toLowerCase() };
  if (b.rfc822Name !== undefined) return { kind: 'email', value: b.rfc822Name.toLowerCase() };
  if (b.uniformResourceIdentifier !== undefined)
    return { kind: 'uri', value: b.uniformResourceIdentifier.toLowerCase() };
  if (b.iPAddress !== undefined) {
    // asn1-x509 renders an address+mask pair as CIDR text ("10.0.0.0/8", "fd00::/8").
    const m = /^(.+)\/(\d+)$/.exec(b.iPAddress);
    const addr = m ? ipBytes(m[1]) : undefined;
    if (!m || !addr) return { kind: 'other', description: `iPAddress ${b.iPAddress}` };
    return { kind: 'ip', address: addr, mask: prefixMask(Number(m[2]), addr.length) };
  }
  if (b.directoryName !== undefined) {
    return { kind: 'dn', rdns: b.directoryName.map((rdn) => new Uint8Array(AsnConvert.serialize(rdn))) };
  }
  return { kind: 'other', description: 'otherName/x400Address/ediPartyName/registeredID' };
}

function prefixMask(bits: number, len: number): Uint8Array {
  const mask = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    const take = Math.max(0, Math.min(8, bits - i * 8));
    mask[i] = take === 0 ? 0 : (0xff << (8 - take)) & 0xff;
  }
  return mask;
}

/**
 * RFC 5280 4.2.1.10 DNS matching: a name is within `example.com` when it is that name or
 * has it as a suffix after a dot; within `.example.com` only when below it; the empty
 * constraint matches every name. Wildcard names compare like any other label.
 */
export function dnsWithinSubtree(name: string, constraint: string): boolean {
  const n = name.toLowerCase();
  const c = constraint.toLowerCase();
  if (c === '') return true;
  if (c.startsWith('.')) return n.endsWith(c) && n.length > c.length;
  return n === c || n.endsWith(`.${c}`);
}

/** Email constraint: a full mailbox, a host (`example.com`), or a domain (`.example.com`). */
export function emailWithinSubtree(email: string, constraint: string): boolean {
  const e = email.toLowerCase();
  const host = e.slice(e.lastIndexOf('@') + 1);
  if (constraint.includes('@')) return e === constraint;
  if (constraint.startsWith('.')) return host.endsWith(constraint);
  return host === constraint;
}

export function ipWithinSubtree(ip: Uint8Array, st: { address: Uint8Array; mask: Uint8Array }): boolean {
  if (ip.length !== st.address.length) return false;
  for (let i = 0; i < ip.length; i++) if ((ip[i] & st.mask[i]) !== (st.address[i] & st.mask[i])) return false;
  return true;
}

/** URI constraint: compares the URI's host like a DNS name (`.example.com` = below it). */
export function uriWithinSubtree(uri: string, constraint: string): boolean {
  let host: string;
  try {
    host = new URL(uri).hostname.toLowerCase();
  } catch {
    return false;
  }
  if (host === '') return false;
  if (constraint.startsWith('.')) return host.endsWith(constraint);
  return host === constraint;
}

/** Directory name within a subtree: the subtree's RDNs are a prefix of the name's (compared as DER). */
export function dnWithinSubtree(rdns: Uint8Array[], subtree: Uint8Array[]): boolean {
  if (subtree.length > rdns.length) return false;
  return subtree.every((r, i) => Buffer.from(r).equals(Buffer.from(rdns[i])));
}

/** The names of a certificate that name constraints apply to. */
export interface ConstrainedNames {
  dns: string[];
  ip: string[];
  email: string[];
  uri: string[];
  /** Subject RDNs as DER, when the subject is not empty. */
  dn?: Uint8Array[];
  dnText?: string;
}

/**
 * Why `names` violate `nc`, or undefined when they satisfy it: for each name form with
 * permitted subtrees a name must lie within one of them, and no name may lie within an
 * excluded subtree of its form (RFC 5280 6.1.3 (b), (c)).
 */
export function nameConstraintViolation(names: ConstrainedNames, nc: ParsedNameConstraints): string | undefined {
  const ipb = names.ip.map((t) => ipBytes(t));
  const forms: { kind: Subtree['kind']; values: string[]; match: (i: number, s: Subtree) => boolean }[] = [
    { kind: 'dns', values: names.dns, match: (i, s) => s.kind === 'dns' && dnsWithinSubtree(names.dns[i], s.value) },
    {
      kind: 'ip',
      values: names.ip,
      match: (i, s) => s.kind === 'ip' && ipb[i] !== undefined && ipWithinSubtree(ipb[i], s),
    },
    {
      kind: 'email',
      values: names.email,
      match: (i, s) => s.kind === 'email' && emailWithinSubtree(names.email[i], s.value),
    },
    { kind: 'uri', values: names.uri, match: (i, s) => s.kind === 'uri' && uriWithinSubtree(names.uri[i], s.value) },
    {
      kind: 'dn',
      values: names.dn ? [names.dnText ?? 'subject'] : [],
      match: (_i, s) => s.kind === 'dn' && names.dn !== undefined && dnWithinSubtree(names.dn, s.rdns),
    },
  ];
  for (const form of forms) {
    const allowed = nc.permitted.filter((s) => s.kind === form.kind);
    const denied = nc.excluded.filter((s) => s.kind === form.kind);
    for (let i = 0; i < form.values.length; i++) {
      if (allowed.length > 0 && !allowed.some((s) => form.match(i, s)))
        return `${form.kind} name ${form.values[i]} is not permitted`;
      if (denied.some((s) => form.match(i, s))) return `${form.kind} name ${form.values[i]} is excluded`;
    }
  }
  return undefined;
}
