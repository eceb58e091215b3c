import { randomBytes } from 'node:crypto';

/**
 * Resource id prefixes. Ids are human-readable TEXT (`mc-api-prod`, `t-platform`); when a
 * client gives none we generate `<prefix>-<12 base32 chars>` (60 random bits).
 */
export const IdPrefix = {
  ApiKey: 'ak',
  AuditEvent: 'audit',
  Role: 'role',
  Team: 'team',
  Owner: 'o',
  Issuer: 'iss',
  Target: 't',
  Agent: 'ag',
  AgentGroup: 'agg',
  Profile: 'prof',
  RenewalPolicy: 'rp',
  PolicyRule: 'pol',
  PolicyViolation: 'pv',
  Certificate: 'mc',
  CertificateVersion: 'cv',
  Job: 'job',
  Notification: 'notif',
  Revocation: 'rev',
  IssuerCa: 'ica',
  OcspResponder: 'ocspr',
  ApprovalRequest: 'ar',
  EnrollmentRequest: 'enr',
} as const;
export type IdPrefix = (typeof IdPrefix)[keyof typeof IdPrefix];

const ALPHABET = 'abcdefghjkmnpqrstvwxyz0123456789'; // 32 symbols, no i/l/o/u lookalikes

export function newId(prefix: string): string {
  const bytes = randomBytes(12);
  let out = '';
  for (const b of bytes) out += ALPHABET[b & 31];
  return `${prefix}-${out}`;
}

/** Client-supplied ids: lowercase letters, digits, dot, underscore and dash; 1-128 chars. */
export const CLIENT_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;

export function isValidClientId(id: string): boolean {
  return CLIENT_ID_PATTERN.test(id);
}
