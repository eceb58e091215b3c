import { randomBytes, scrypt, scryptSync, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Enrollment passwords at rest (EST Basic authentication): scrypt, stored as one
 * self-describing string `scrypt$N$r$p$<salt base64>$<hash base64>` so the cost can be
 * raised later without invalidating hashes already configured.
 */

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
}

/** About 32 MiB and 50-100 ms per hash on a current core: costly to guess, cheap enough at boot. */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 1 << 15, r: 8, p: 1 };

const SALT_BYTES = 16;
const HASH_BYTES = 32;
/** Bounds on what a configured hash may ask for, so a crafted value cannot exhaust memory or CPU. */
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 16;
const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

export class PasswordHashFormatError extends Error {}

interface ParsedHash extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

function options(p: ScryptParams): ScryptOptions {
  // Node refuses costs above maxmem (32 MiB default); 128 * N * r is what scrypt needs.
  return { N: p.N, r: p.r, p: p.p, maxmem: 128 * p.N * p.r + 16 * 1024 * 1024 };
}

function checkParams(p: ScryptParams): void {
  const pow2 = p.N >= 2 && (p.N & (p.N - 1)) === 0;
  if (!Number.isInteger(p.N) || !pow2 || p.N > MAX_N) {
    throw new PasswordHashFormatError(`scrypt N must be a power of two from 2 to ${MAX_N}`);
  }
  if (!Number.isInteger(p.r) || p.r < 1 || p.r > MAX_R)
    throw new PasswordHashFormatError(`scrypt r must be 1-${MAX_R}`);
  if (!Number.isInteger(p.p) || p.p < 1 || p.p > MAX_P)
    throw new PasswordHashFormatError(`scrypt p must be 1-${MAX_P}`);
}

function format(p: ScryptParams, salt: Buffer, hash: Buffer): string {
  return `scrypt$${p.N}$${p.r}$${p.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Parses a stored hash; throws PasswordHashFormatError saying what is wrong (never echoing the value). */
export function parsePasswordHash(stored: string): ParsedHash {
  const parts = typeof stored === 'string' ? stored.trim().split('$') : [];
  if (parts.length !== 6 || parts[0] !== 'scrypt') {
    throw new PasswordHashFormatError('expected scrypt$N$r$p$salt$hash (make one with `npm run est:hash-password`)');
  }
  const [N, r, p] = parts.slice(1, 4).map((s) => (/^\d{1,8}$/.test(s) ? Number(s) : NaN));
  const params = { N, r, p };
  checkParams(params);
  if (!B64.test(parts[4]) || !B64.test(parts[5])) throw new PasswordHashFormatError('salt and hash must be base64');
  const salt = Buffer.from(parts[4], 'base64');
  const hash = Buffer.from(parts[5], 'base64');
  if (salt.length < 8) throw new PasswordHashFormatError('the salt must be at least 8 bytes');
  if (hash.length < 16 || hash.length > 64) throw new PasswordHashFormatError('the hash must be 16-64 bytes');
  return { ...params, salt, hash };
}

/** A new hash of `plain` with a random salt (synchronous: used once at boot and by the CLI). */
export function hashEnrollmentPasswordSync(plain: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): string {
  checkParams(params);
  const salt = randomBytes(SALT_BYTES);
  return format(params, salt, scryptSync(plain.normalize('NFC'), salt, HASH_BYTES, options(params)));
}

/** As hashEnrollmentPasswordSync, on the thread pool. */
export async function hashEnrollmentPassword(
  plain: string,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): Promise<string> {
  checkParams(params);
  const salt = randomBytes(SALT_BYTES);
  return format(params, salt, await derive(plain, salt, HASH_BYTES, params));
}

/**
 * Whether `plain` matches `stored`. The derived key is compared in constant time; a
 * malformed stored value throws PasswordHashFormatError (a configuration error, checked at boot).
 */
export async function verifyEnrollmentPassword(plain: string, stored: string | ParsedHash): Promise<boolean> {
  const h = typeof stored === 'string' ? parsePasswordHash(stored) : stored;
  const derived = await derive(plain, h.salt, h.hash.length, h);
  return timingSafeEqual(derived, h.hash);
}

function derive(plain: string, salt: Buffer, length: number, p: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(plain.normalize('NFC'), salt, length, options(p), (err, key) => (err ? reject(err) : resolve(key))),
  );
}
