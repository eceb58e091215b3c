import { CertificateStatus, parseEnum } from '@certctl/domain';

/** Pure parsing of certificate inputs that class-validator has no decorator for. */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|([+-])(\d{2}):(\d{2}))$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * An RFC 3339 date-time (`2026-01-31T00:00:00Z`, `2026-01-31T02:00:00.5+02:00`), as the
 * instant it names; undefined when the text is not one (calendar and clock ranges checked).
 */
export function parseRfc3339(input: string): Date | undefined {
  const m = RFC3339.exec(input);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  // Year 0 parses in JavaScript but not in Postgres (there is no year 0 AD).
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  if (m[9] !== undefined && (Number(m[10]) > 23 || Number(m[11]) > 59)) return undefined;
  const t = Date.parse(input.toUpperCase());
  return Number.isNaN(t) ? undefined : new Date(t);
}

/** Why a date-time query value was refused (a `+` offset decodes to a space unless escaped). */
export function rfc3339Problem(input: string): string {
  const hint = / \d{2}:\d{2}$/.test(input) ? ' (write a + offset as %2B in a URL)' : '';
  return `must be an RFC 3339 date-time such as 2026-01-31T00:00:00Z${hint}`;
}

/**
 * `Active` or `active,Expiring`: each value matched case-insensitively against
 * CertificateStatus, duplicates dropped; a string naming the bad value otherwise.
 */
export function parseStatusList(input: string): CertificateStatus[] | string {
  const out: CertificateStatus[] = [];
  for (const part of input.split(',')) {
    const status = parseEnum(CertificateStatus, part);
    if (!status) {
      return `${JSON.stringify(part)} is not a certificate status (allowed: ${Object.values(CertificateStatus).join(', ')})`;
    }
    if (!out.includes(status)) out.push(status);
  }
  return out;
}

export const MAX_TAGS = 50;
const MAX_TAG_KEY = 128;
const MAX_TAG_VALUE = 256;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/** A flat string->string object; the error names the offending key. */
export function tagsProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'must be an object of string values';
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_TAGS) return `has ${entries.length} keys; at most ${MAX_TAGS} are allowed`;
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > MAX_TAG_KEY || CONTROL.test(k)) {
      return `key ${JSON.stringify(k)} must be 1-${MAX_TAG_KEY} printable characters`;
    }
    if (typeof v !== 'string') return `value of ${JSON.stringify(k)} must be a string`;
    if (v.length > MAX_TAG_VALUE || CONTROL.test(v)) {
      return `value of ${JSON.stringify(k)} must be at most ${MAX_TAG_VALUE} printable characters`;
    }
  }
  return undefined;
}

/**
 * Whether a path id could name a stored row at all; one with control characters (a NUL
 * would make Postgres refuse the query) or an absurd length is simply not found.
 */
export function plausibleId(id: string): boolean {
  return id.length > 0 && id.length <= 256 && !CONTROL.test(id);
}
