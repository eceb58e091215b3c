import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { TlsOptions } from 'node:tls';
import { checkTlsBundle, createSelfSignedTlsBundle, issueTlsServerCertificate } from '@certctl/pki';
import type { AppConfig } from '../config/config.schema';

export interface ServerTls {
  key: string;
  cert: string;
  /** The CA file clients should trust, when we generated the bundle ourselves. */
  caFile?: string;
  source: 'configured' | 'generated' | 'reused' | 'reissued';
}

export class TlsConfigError extends Error {}

/** The TLS options certctl sets: valid for https.createServer and Server.setSecureContext alike. */
export type ServerTlsListenerOptions = Pick<
  TlsOptions,
  'key' | 'cert' | 'minVersion' | 'requestCert' | 'rejectUnauthorized'
>;

/**
 * The listener's TLS options for one certificate/key pair: TLS 1.3 only. With EST enabled
 * the listener asks for (never requires) a client certificate: EST verifies it per label
 * against its trust bundle (and simplereenroll against the certificate it renews); every
 * other route ignores it. The boot (createServerApp) and the hot reload
 * (server-tls-reloader.ts) both use this, so a reloaded certificate keeps the same policy.
 */
export function serverTlsOptions(config: AppConfig, pair: { key: string; cert: string }): ServerTlsListenerOptions {
  const opts: ServerTlsListenerOptions = { key: pair.key, cert: pair.cert, minVersion: 'TLSv1.3' };
  if (config.enrollment.est.enabled) {
    opts.requestCert = true;
    opts.rejectUnauthorized = false;
  }
  return opts;
}

async function readOrFail(path: string, variable: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new TlsConfigError(`${variable}=${path} cannot be read: ${(e as Error).message}`);
  }
}

async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

/**
 * The server's TLS material. Operator-provided files must be usable or the boot stops
 * (fail closed). Without them a self-signed ECDSA P-256 CA + server certificate is
 * generated once into `<data dir>/tls` and reused on later boots; the server certificate
 * is re-issued under the same CA when it nears expiry or the host names change.
 */
export async function resolveServerTls(config: AppConfig): Promise<ServerTls> {
  const { tlsCertPath, tlsKeyPath, host } = config.server;
  if (tlsCertPath && tlsKeyPath) {
    const cert = await readOrFail(tlsCertPath, 'CERTCTL_SERVER_TLS_CERT_PATH');
    const key = await readOrFail(tlsKeyPath, 'CERTCTL_SERVER_TLS_KEY_PATH');
    try {
      checkTlsBundle(cert, key);
    } catch (e) {
      throw new TlsConfigError(
        `CERTCTL_SERVER_TLS_CERT_PATH/CERTCTL_SERVER_TLS_KEY_PATH are unusable: ${(e as Error).message}`,
      );
    }
    return { key, cert, source: 'configured' };
  }

  const dir = resolve(config.dataDir, 'tls');
  const files = {
    caCert: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca.key'),
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server.key'),
  };
  const ipAddresses = ['127.0.0.1', '::1'];
  if (isIP(host) && !['0.0.0.0', '::', ...ipAddresses].includes(host)) ipAddresses.push(host);
  const dnsNames = [...new Set(['localhost', hostname()].filter(Boolean))];
  const soon = new Date(Date.now() + 30 * 86_400_000);

  const ca = await readPair(files.caCert, files.caKey);
  if (ca && usable(ca, soon)) {
    const leaf = await readPair(files.cert, files.key);
    if (leaf && usable(leaf, soon) && coversNames(leaf.cert, dnsNames, ipAddresses)) {
      return { key: leaf.key, cert: leaf.cert, caFile: files.caCert, source: 'reused' };
    }
    // Same CA, new server certificate: clients keep trusting the CA file they have.
    const fresh = await issueTlsServerCertificate({ dnsNames, ipAddresses, caCertPem: ca.cert, caKeyPem: ca.key });
    await writeAtomic(files.key, fresh.keyPem, 0o600);
    await writeAtomic(files.cert, fresh.certPem + ca.cert, 0o644);
    return { key: fresh.keyPem, cert: fresh.certPem + ca.cert, caFile: files.caCert, source: 'reissued' };
  }

  const bundle = await createSelfSignedTlsBundle({ dnsNames, ipAddresses });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomic(files.caKey, bundle.caKeyPem, 0o600);
  await writeAtomic(files.key, bundle.keyPem, 0o600);
  await writeAtomic(files.cert, bundle.certPem + bundle.caCertPem, 0o644);
  await writeAtomic(files.caCert, bundle.caCertPem, 0o644);
  const caFile = files.caCert;
  return { key: bundle.keyPem, cert: bundle.certPem + bundle.caCertPem, caFile, source: 'generated' };
}

async function readPair(certPath: string, keyPath: string): Promise<{ cert: string; key: string } | undefined> {
  try {
    const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    return { cert, key };
  } catch {
    return undefined;
  }
}

function usable(pair: { cert: string; key: string }, until: Date): boolean {
  try {
    checkTlsBundle(pair.cert, pair.key, until);
    return true;
  } catch {
    return false;
  }
}

function coversNames(certPem: string, dnsNames: string[], ips: string[]): boolean {
  const san = new X509Certificate(certPem).subjectAltName ?? '';
  const entries = new Set(san.split(', '));
  return (
    dnsNames.every((d) => entries.has(`DNS:${d}`)) &&
    ips.every((ip) => [...entries].some((e) => e.startsWith('IP Address:') && sameIp(e.slice(11), ip)))
  );
}

function sameIp(a: string, b: string): boolean {
  // Node prints IPv6 SANs expanded (0:0:0:0:0:0:0:1); compare canonical forms.
  const norm = (x: string) => (isIP(x) === 6 ? new URL(`http://[${x}]`).hostname : x);
  return norm(a) === norm(b);
}
