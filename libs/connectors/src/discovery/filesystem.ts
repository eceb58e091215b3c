// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import { constants, type Stats } from 'node:fs';
import { lstat, open, readdir, stat } from 'node:fs/promises';
import { X509Certificate as NodeX509, createHash, type KeyObject } from 'node:crypto';
import { join, resolve } from 'node:path';
import * as x509 from '@peculiar/x509';
import { describeKeyObject, ensureCryptoProvider } from '@certctl/pki';

/**
 * One certificate found on disk, in the shape the agent posts to
 * `POST /api/v1/agents/{id}/discoveries` (snake_case, dates as ISO 8601 strings).
 */
export interface DiscoveredCertificate {
  /** Absolute path of the file (several certificates of a bundle share it). */
  source_path: string;
  format: 'pem' | 'der';
  /** SHA-256 of the DER, lowercase hex (the dedup key with agent and path). */
  fingerprint_sha256: string;
  /** First CN of the subject, null when the subject has none. */
  common_name: string | null;
  /** DNS names, IP addresses, e-mail addresses and URIs of the subjectAltName extension. */
  sans: string[];
  /** Serial number, lowercase hex without leading zero octets. */
  serial: string;
  issuer_dn: string;
  subject_dn: string;
  not_before: string;
  not_after: string;
  /** RSA, ECDSA, Ed25519, or the key type OpenSSL names (dsa, rsa-pss, ed448, ...). */
  key_algorithm: string;
  /** RSA modulus bits, EC curve bits, 256 for Ed25519; null when unknown. */
  key_size: number | null;
  is_ca: boolean;
}

export interface ScanError {
  path: string;
  message: string;
}

export interface ScanResult {
  certificates: DiscoveredCertificate[];
  errors: ScanError[];
  /** Candidate files (by extension) opened and examined. */
  filesScanned: number;
}

export interface ScanOptions {
  /** Candidate files examined across all directories (default 10,000); the walk stops there. */
  maxFiles?: number;
  /** Larger candidate files are skipped with an error (default 1 MiB). */
  maxFileBytes?: number;
  /** Directory levels below each root (default 16). */
  maxDepth?: number;
  /** Follow symbolic links (default false: links are not walked). Loops are detected either way. */
  followSymlinks?: boolean;
  /** Stops the walk; the scan then rejects with the signal's reason. */
  signal?: AbortSignal;
}

export const CERT_EXTENSIONS = ['.pem', '.crt', '.cer', '.cert', '.der'] as const;
const DEFAULTS = { maxFiles: 10_000, maxFileBytes: 1024 * 1024, maxDepth: 16 };
/** Bounds the directory entries visited, so a huge tree without certificates also ends. */
const MAX_ENTRIES_PER_FILE = 50;

/** Only certificate blocks are ever decoded; key blocks in the same file are not touched. */
const CERT_BEGIN = /-----BEGIN (X509 )?CERTIFICATE-----/;
const BASE64_BODY = /^[A-Za-z0-9+/=\s]+$/;
const PEM_MARKER = '-----BEGIN ';

const SAN_TYPES = new Set(['dns', 'ip', 'email', 'url']);

function isCandidate(name: string): boolean {
  const lower = name.toLowerCase();
  return CERT_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

function errorMessage(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code ?? '') {
    case 'ENOENT':
      return 'does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'ENOTDIR':
      return 'not a directory';
    default:
      return err.message ?? String(e);
  }
}

function keyDescription(der: Uint8Array): { key_algorithm: string; key_size: number | null } {
  let key: KeyObject;
  try {
    // Node's parser gives the public key as a KeyObject (size, curve) without ASN.1 by hand.
    key = new NodeX509(der).publicKey;
  } catch {
    return { key_algorithm: 'unknown', key_size: null }; // a key type OpenSSL does not know
  }
  try {
    const info = describeKeyObject(key, 'public_key');
    return { key_algorithm: info.algorithm, key_size: info.size };
  } catch {
    // Discovery reports every certificate, including key kinds certctl does not issue.
    const d = key.asymmetricKeyDetails ?? {};
    return { key_algorithm: key.asymmetricKeyType ?? 'unknown', key_size: d.modulusLength ?? null };
  }
}

/** The metadata of one DER certificate; throws when it is not a parseable X.509 certificate. */
export function describeCertificate(
  der: Uint8Array,
  sourcePath: string,
  format: DiscoveredCertificate['format'],
): DiscoveredCertificate {
  ensureCryptoProvider();
  const cert = new x509.X509Certificate(der);
  const sanExt = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const sans = (sanExt?.names.items ?? []).filter((n) => SAN_TYPES.has(n.type)).map((n) => n.value);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  return {
    source_path: sourcePath,
    format,
    fingerprint_sha256: createHash('sha256').update(der).digest('hex'),
    common_name: cert.subjectName.getField('CN')[0] ?? null,
    sans,
    serial: normalizeSerial(cert.serialNumber),
    issuer_dn: cert.issuer,
    subject_dn: cert.subject,
    not_before: cert.notBefore.toISOString(),
    not_after: cert.notAfter.toISOString(),
    ...keyDescription(der),
    is_ca: bc?.ca ?? false,
  };
}

function normalizeSerial(hex: string): string {
  const s = hex.toLowerCase().replace(/^(00)+(?=[0-9a-f]{2})/, '');
  return s.length === 0 ? '00' : s;
}

/**
 * The text between each BEGIN CERTIFICATE line and its END line, in one linear pass (a
 * lazy regular expression would rescan the rest of the file for every unterminated BEGIN).
 */
function* certificateBodies(text: string, onUnterminated: () => void): Generator<string> {
  const begin = new RegExp(CERT_BEGIN.source, 'g');
  for (let m = begin.exec(text); m !== null; m = begin.exec(text)) {
    const endLine = `-----END ${m[1] ?? ''}CERTIFICATE-----`;
    const start = m.index + m[0].length;
    const end = text.indexOf(endLine, start);
    if (end < 0) {
      onUnterminated();
      return;
    }
    yield text.slice(start, end);
    begin.lastIndex = end + endLine.length;
  }
}

/**
 * The certificates in one file's bytes: every CERTIFICATE block of PEM text, or one DER
 * certificate. Anything else yields nothing. Blocks that claim to be certificates but do
 * not parse are reported through `onError`.
 */
export function certificatesInFile(
  bytes: Buffer,
  sourcePath: string,
  onError: (message: string) => void,
): DiscoveredCertificate[] {
  const text = bytes.toString('latin1');
  if (text.includes(PEM_MARKER)) {
    const out: DiscoveredCertificate[] = [];
    let index = 0;
    for (const body of certificateBodies(text, () => onError(`certificate block ${index + 1}: has no END line`))) {
      index++;
      if (!BASE64_BODY.test(body)) {
        onError(`certificate block ${index}: has headers or characters outside base64`);
        continue;
      }
      try {
        out.push(describeCertificate(Buffer.from(body.replace(/\s+/g, ''), 'base64'), sourcePath, 'pem'));
      } catch (e) {
        onError(`certificate block ${index}: not a valid X.509 certificate (${(e as Error).message})`);
      }
    }
    return out;
  }
  // DER: an X.509 certificate is a SEQUENCE (0x30); anything else is not one of ours.
  if (bytes.length < 16 || bytes[0] !== 0x30) return [];
  try {
    return [describeCertificate(new Uint8Array(bytes), sourcePath, 'der')];
  } catch {
    return []; // binary junk with a certificate extension
  }
}

interface Walk {
  opts: Required<Omit<ScanOptions, 'signal'>> & { signal?: AbortSignal };
  result: ScanResult;
  /** dev:inode of every directory entered, so links and bind mounts cannot loop. */
  visitedDirs: Set<string>;
  entries: number;
  stopped: boolean;
}

/**
 * Walks `dirs` for certificate files (.pem .crt .cer .cert .der, any case) and describes
 * every certificate in them: PEM bundles yield each certificate, DER files one. Files
 * without certificates (junk, private keys, parameters) are skipped; private key blocks
 * are never decoded and nothing of them reaches the result. Unreadable, oversized or
 * malformed files become `errors` and the walk goes on. Bounded by depth, by candidate
 * files and by directory entries; symbolic links are not followed unless asked, and
 * directory loops are detected by device and inode.
 */
export async function scanDirectories(dirs: readonly string[], options: ScanOptions = {}): Promise<ScanResult> {
  const w: Walk = {
    opts: {
      maxFiles: options.maxFiles ?? DEFAULTS.maxFiles,
      maxFileBytes: options.maxFileBytes ?? DEFAULTS.maxFileBytes,
      maxDepth: options.maxDepth ?? DEFAULTS.maxDepth,
      followSymlinks: options.followSymlinks ?? false,
      signal: options.signal,
    },
    result: { certificates: [], errors: [], filesScanned: 0 },
    visitedDirs: new Set(),
    entries: 0,
    stopped: false,
  };
  for (const raw of dirs) {
    if (w.stopped) break;
    w.opts.signal?.throwIfAborted();
    const root = resolve(raw);
    let st: Stats;
    try {
      st = await stat(root); // a configured root is followed even when it is a link
    } catch (e) {
      w.result.errors.push({ path: root, message: errorMessage(e) });
      continue;
    }
    if (st.isDirectory()) await walkDir(w, root, st, 0);
    else if (st.isFile()) await scanFile(w, root);
    else w.result.errors.push({ path: root, message: 'not a directory or regular file' });
  }
  return w.result;
}

async function walkDir(w: Walk, dir: string, st: Stats, depth: number): Promise<void> {
  const id = `${st.dev}:${st.ino}`;
  if (w.visitedDirs.has(id)) return; // a loop, or a second way into a tree already walked
  w.visitedDirs.add(id);
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (e) {
    w.result.errors.push({ path: dir, message: errorMessage(e) });
    return;
  }
  for (const name of names) {
    if (w.stopped) return;
    w.opts.signal?.throwIfAborted();
    if (++w.entries > w.opts.maxFiles * MAX_ENTRIES_PER_FILE) {
      stop(w, dir, `stopped after ${w.opts.maxFiles * MAX_ENTRIES_PER_FILE} directory entries`);
      return;
    }
    const path = join(dir, name);
    let entry: Stats;
    try {
      entry = await lstat(path);
      if (entry.isSymbolicLink()) {
        if (!w.opts.followSymlinks) continue;
        entry = await stat(path);
      }
    } catch (e) {
      w.result.errors.push({ path, message: errorMessage(e) });
      continue;
    }
    if (entry.isDirectory()) {
      if (depth + 1 > w.opts.maxDepth) continue;
      await walkDir(w, path, entry, depth + 1);
    } else if (entry.isFile() && isCandidate(name)) {
      await scanFile(w, path);
    }
  }
}

function stop(w: Walk, path: string, message: string): void {
  w.stopped = true;
  w.result.errors.push({ path, message });
}

async function scanFile(w: Walk, path: string): Promise<void> {
  if (w.result.filesScanned >= w.opts.maxFiles) {
    stop(w, path, `stopped after ${w.opts.maxFiles} files`);
    return;
  }
  w.result.filesScanned++;
  let bytes: Buffer;
  try {
    bytes = await readBounded(path, w.opts.maxFileBytes, w.opts.followSymlinks);
  } catch (e) {
    w.result.errors.push({ path, message: errorMessage(e) });
    return;
  }
  try {
    const certs = certificatesInFile(bytes, path, (message) => w.result.errors.push({ path, message }));
    const inFile = new Set<string>();
    for (const c of certs) {
      if (inFile.has(c.fingerprint_sha256)) continue; // the same certificate twice in one bundle
      inFile.add(c.fingerprint_sha256);
      w.result.certificates.push(c);
    }
  } finally {
    bytes.fill(0); // the file may have held a private key next to the certificate
  }
}

/**
 * The file's bytes, refusing anything but a regular file of at most `max` bytes. O_NOFOLLOW
 * (when links are not followed) and O_NONBLOCK close the race between lstat and open: a
 * file swapped for a link or a FIFO is not read.
 */
async function readBounded(path: string, max: number, followSymlinks: boolean): Promise<Buffer> {
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | (followSymlinks ? 0 : constants.O_NOFOLLOW);
  const fh = await open(path, flags);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > max) throw new Error(`larger than ${max} bytes, skipped`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const { bytesRead } = await fh.read(buf, off, st.size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return off === st.size ? buf : buf.subarray(0, off);
  } finally {
    await fh.close();
  }
}
