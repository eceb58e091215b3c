import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * Field builders shared by the connector config schemas. Messages are written to follow
 * the field name (`body.config.cert_path: must be an absolute path`).
 */

/** A type error message that says "is required" when the field is missing. */
export function typeError(expected: string) {
  return (iss: { input?: unknown }): string => (iss.input === undefined ? 'is required' : `must be ${expected}`);
}

/** A string field (messages: "is required" / "must be a string"). */
export function str() {
  return z.string({ error: typeError('a string') });
}

/** Schemas registered here are secret: sealed at rest, never returned by the API. */
export const secretRegistry = z.registry<{ secret: true }>();

/** A check on a secret's value, applied before it is marked secret. */
export interface SecretCheck {
  test: (value: string) => boolean;
  message: string;
}

/**
 * A secret string (token, password, private key): sealed at rest, shown as "[REDACTED]".
 * Zod's refine returns a new schema, so any value check is passed in here, before the
 * schema is registered as secret.
 */
export function secret(maxLength = 16_384, check?: SecretCheck) {
  let s = str().min(1, 'must not be empty').max(maxLength, `must be at most ${maxLength} characters`);
  if (check) s = s.refine(check.test, check.message);
  const marked = s.meta({ writeOnly: true, description: 'Secret: sealed at rest, returned as "[REDACTED]"' });
  secretRegistry.add(marked, { secret: true });
  return marked;
}

/** A secret holding PEM material (`-----BEGIN <label>-----`), e.g. an SSH private key. */
export function secretPem(label: RegExp, what: string) {
  const begin = new RegExp(`-----BEGIN ${label.source}-----`);
  return secret(65_536, { test: (v) => begin.test(v), message: `must be a PEM ${what}` });
}

export function text(maxLength = 256) {
  return str().trim().min(1, 'must not be empty').max(maxLength, `must be at most ${maxLength} characters`);
}

/** An absolute POSIX path without `..` segments or NUL bytes. */
export function absolutePath() {
  return str()
    .max(4096, 'must be at most 4096 characters')
    .refine((p) => p.startsWith('/'), 'must be an absolute path')
    .refine((p) => !p.includes('\0') && !p.split('/').includes('..'), 'must not contain NUL bytes or .. segments');
}

/**
 * A command as an argv array: agents execute it directly, never through a shell, so
 * metacharacters in arguments are inert.
 */
export function argv() {
  return z
    .array(
      str()
        .min(1, 'must not be empty')
        .max(1024, 'must be at most 1024 characters')
        .refine((a) => !a.includes('\0'), 'must not contain NUL bytes'),
      { error: typeError('an argv array of strings, e.g. ["systemctl", "reload", "nginx"]') },
    )
    .min(1, 'must name the program to run')
    .max(64, 'must have at most 64 arguments');
}

const DNS_NAME =
  /^(?=.{1,253}$)([a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;

/** A DNS host name (RFC 1123) or an IPv4/IPv6 address. */
export function host() {
  return str().refine((h) => DNS_NAME.test(h) || isIP(h) !== 0, 'must be a host name or an IP address');
}

export function port() {
  return z
    .number({ error: typeError('a number') })
    .int('must be an integer')
    .min(1, 'must be between 1 and 65535')
    .max(65_535, 'must be between 1 and 65535');
}

export function int(min: number, max: number) {
  return z
    .number({ error: typeError('a number') })
    .int('must be an integer')
    .min(min, `must be between ${min} and ${max}`)
    .max(max, `must be between ${min} and ${max}`);
}

export function bool() {
  return z.boolean({ error: typeError('true or false') });
}

function hasProtocol(url: string, protocols: readonly string[]): boolean {
  try {
    const u = new URL(url);
    return protocols.includes(u.protocol) && u.hostname !== '' && u.username === '' && u.password === '';
  } catch {
    return false;
  }
}

/** An https:// URL without embedded credentials (those belong in secret fields). */
export function httpsUrl() {
  return str()
    .max(2048, 'must be at most 2048 characters')
    .refine((u) => hasProtocol(u, ['https:']), 'must be an https:// URL without embedded credentials');
}

/** An http(s):// URL (CRL/OCSP locations, local admin APIs) without embedded credentials. */
export function httpUrl() {
  return str()
    .max(2048, 'must be at most 2048 characters')
    .refine(
      (u) => hasProtocol(u, ['http:', 'https:']),
      'must be an http:// or https:// URL without embedded credentials',
    );
}

export function email() {
  return z
    .email({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be an email address') })
    .max(254, 'must be at most 254 characters');
}

/** A Go-style duration as Vault and step-ca accept it: `720h`, `90m`, `30d`, `1h30m`, `3600`. */
export function duration() {
  return str().regex(/^(\d+|(\d+(s|m|h|d))+)$/, 'must be a duration such as 720h, 30d, 1h30m or a number of seconds');
}

/** An octal file mode for written files, as a string: `0600`, `0640`. */
export function fileMode() {
  return str().regex(/^0?[0-7]{3}$/, 'must be an octal file mode such as 0600');
}

/** A user or group name for file ownership. */
export function posixName() {
  return str().regex(/^[a-z_][a-z0-9_.-]{0,31}\$?$|^\d{1,10}$/, 'must be a user/group name or a numeric id');
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `must be one of: ${values.join(', ')}` });
}

/** DNS-1123 label (Kubernetes namespace). */
export function dnsLabel() {
  return str().regex(
    /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
    'must be a DNS-1123 label (lowercase letters, digits, -; at most 63)',
  );
}

/** DNS-1123 subdomain (Kubernetes object names). */
export function dnsSubdomain() {
  return str()
    .max(253, 'must be at most 253 characters')
    .regex(
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
      'must be a DNS-1123 subdomain (lowercase letters, digits, - and .)',
    );
}

export function uuid() {
  return str().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a UUID');
}

export function awsRegion() {
  return str().regex(/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/, 'must be an AWS region such as eu-west-1');
}

export function awsArn(service: string, resource: RegExp, example: string) {
  const re = new RegExp(`^arn:aws[a-z-]*:${service}:[a-z0-9-]+:\\d{12}:${resource.source}$`);
  return str().regex(re, `must be an ARN such as ${example}`);
}

export function iamRoleArn() {
  return str().regex(
    /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/,
    'must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)',
  );
}

export function stringMap(maxEntries = 64) {
  return z
    .record(
      z.string().regex(/^[A-Za-z0-9._/-]{1,253}$/, 'keys must be 1-253 letters, digits, . _ / -'),
      str().max(1024, 'must be at most 1024 characters'),
      { error: typeError('an object of string values') },
    )
    .refine((m) => Object.keys(m).length <= maxEntries, `must have at most ${maxEntries} entries`);
}
