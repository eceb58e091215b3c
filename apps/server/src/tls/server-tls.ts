import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { checkTlsBundle, createSelfSignedTlsBundle } from '@certctl/pki';
import type { AppConfig } from '../config/config.schema';

export interface ServerTls {
  key: string;
  cert: string;
  /** The CA file clients should trust, when we generated the bundle ourselves. */
  caFile?: string;
  source: 'configured' | 'generated' | 'reused';
}

export class TlsConfigError extends Error {}

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
 * generated once into `<data dir>/tls` and reused on later boots while it stays valid.
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
  const caFile = join(dir, 'ca.pem');
  const certFile = join(dir, 'server.pem');
  const keyFile = join(dir, 'server.key');
  try {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    await readFile(caFile, 'utf8');
    // Reuse while it has at least a week left; otherwise regenerate below.
    checkTlsBundle(cert, key, new Date(Date.now() + 7 * 86_400_000));
    return { key, cert, caFile, source: 'reused' };
  } catch {
    // missing, unreadable or expiring: generate a fresh bundle
  }

  const ipAddresses = ['127.0.0.1', '::1'];
  if (isIP(host) && !['0.0.0.0', '::', ...ipAddresses].includes(host)) ipAddresses.push(host);
  const dnsNames = [...new Set(['localhost', hostname()].filter(Boolean))];
  const bundle = await createSelfSignedTlsBundle({ dnsNames, ipAddresses });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomic(keyFile, bundle.keyPem, 0o600);
  await writeAtomic(certFile, bundle.certPem + bundle.caCertPem, 0o644);
  await writeAtomic(caFile, bundle.caCertPem, 0o644);
  return { key: bundle.keyPem, cert: bundle.certPem + bundle.caCertPem, caFile, source: 'generated' };
}
