import { isIP } from 'node:net';
import { ValidateBy, type ValidationArguments, type ValidationOptions } from 'class-validator';

/**
 * Dynamic agent-group membership: an agent matches when it satisfies every criterion
 * given (AND across keys, OR within a list). os/architecture compare case-insensitively,
 * ip_cidrs by containment (Postgres inet `<<=`), version exactly or by a trailing-`*`
 * prefix pattern. A group with no criteria has no dynamic members (includes only).
 */
export interface MatchCriteria {
  os?: string[];
  architecture?: string[];
  ip_cidrs?: string[];
  version?: string;
}

/**
 * An IP address as Postgres `inet` reads it: IPv4 dotted quad or IPv6, no zone id
 * (`%eth0`), no prefix.
 */
export function isInetAddress(value: string): boolean {
  return !value.includes('%') && isIP(value) !== 0;
}

/** `10.0.0.0/8`, `2001:db8::/32`: an address and a prefix length within its family's width. */
export function isCidr(value: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(value);
  if (!m || !isInetAddress(m[1])) return false;
  return Number(m[2]) <= (isIP(m[1]) === 4 ? 32 : 128);
}

/** `1.4.2` (exact), `1.4.*` or `v2*` (prefix), `*` (any reported version). */
export const VERSION_PATTERN = /^(\*|[0-9A-Za-z][0-9A-Za-z.+_-]*\*?)$/;

export type CompiledVersion =
  /** Lowercased version to compare with lower(version). */
  | { kind: 'exact'; value: string }
  /** Lowercased prefix, and the same as a LIKE pattern (wildcards escaped, `%` appended). */
  | { kind: 'prefix'; value: string; like: string };

export function compileVersionPattern(pattern: string): CompiledVersion {
  const p = pattern.trim().toLowerCase();
  if (!p.endsWith('*')) return { kind: 'exact', value: p };
  const value = p.slice(0, -1);
  return { kind: 'prefix', value, like: `${value.replace(/[\\%_]/g, '\\$&')}%` };
}

/** Case-insensitive; an agent that has not reported a version ('') never matches. */
export function versionMatches(pattern: string, version: string): boolean {
  if (version === '') return false;
  const c = compileVersionPattern(pattern);
  const v = version.toLowerCase();
  return c.kind === 'exact' ? v === c.value : v.startsWith(c.value);
}

function dedupe(values: string[] | undefined, key: (s: string) => string): string[] | undefined {
  if (!values) return undefined;
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of values) {
    const v = raw.trim();
    if (v === '' || seen.has(key(v))) continue;
    seen.add(key(v));
    out.push(v);
  }
  return out.length ? out : undefined;
}

/** Trimmed and de-duplicated; empty lists and an empty version are dropped (no constraint). */
export function normalizeCriteria(c: MatchCriteria | undefined): MatchCriteria {
  if (!c) return {};
  const out: MatchCriteria = {};
  const os = dedupe(c.os, (s) => s.toLowerCase());
  const architecture = dedupe(c.architecture, (s) => s.toLowerCase());
  const ipCidrs = dedupe(c.ip_cidrs, (s) => s.toLowerCase());
  const version = c.version?.trim();
  if (os) out.os = os;
  if (architecture) out.architecture = architecture;
  if (ipCidrs) out.ip_cidrs = ipCidrs;
  if (version) out.version = version;
  return out;
}

/**
 * Criteria as stored (JSONB), read defensively: a row written outside the API with a
 * malformed criterion yields null (no dynamic members) rather than a failing query or a
 * silently broader match.
 */
export function readStoredCriteria(raw: unknown): MatchCriteria | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const { os, architecture, ip_cidrs: cidrs, version } = raw as Record<string, unknown>;
  const isList = (v: unknown): v is string[] | undefined =>
    v === undefined || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
  if (!isList(os) || !isList(architecture) || !isList(cidrs) || cidrs?.some((c) => !isCidr(c))) return null;
  if (version !== undefined && (typeof version !== 'string' || !VERSION_PATTERN.test(version))) return null;
  return normalizeCriteria({ os, architecture, ip_cidrs: cidrs, version });
}

export function hasCriteria(c: MatchCriteria): boolean {
  return Boolean(c.os?.length || c.architecture?.length || c.ip_cidrs?.length || c.version);
}

/** Validator: every entry is a CIDR; the message names the first bad one. */
export function IsCidrList(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isCidrList',
      validator: {
        validate: (value: unknown) => Array.isArray(value) && value.every((v) => typeof v === 'string' && isCidr(v)),
        defaultMessage: (args?: ValidationArguments) => {
          const list: unknown[] = Array.isArray(args?.value) ? (args.value as unknown[]) : [];
          const bad = list.find((v) => typeof v !== 'string' || !isCidr(v));
          return `${args?.property ?? 'ip_cidrs'} contains an invalid CIDR ${JSON.stringify(bad)} (expected address/prefix, e.g. 10.0.0.0/8 or 2001:db8::/32)`;
        },
      },
    },
    options,
  );
}

/** Validator: an IPv4/IPv6 address, or '' for "unknown". */
export function IsInetAddressOrEmpty(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isInetAddressOrEmpty',
      validator: {
        validate: (value: unknown) => typeof value === 'string' && (value === '' || isInetAddress(value)),
        defaultMessage: (args?: ValidationArguments) =>
          `${args?.property ?? 'ip_address'} must be an IPv4 or IPv6 address (or empty), got ${JSON.stringify(args?.value)}`,
      },
    },
    options,
  );
}
