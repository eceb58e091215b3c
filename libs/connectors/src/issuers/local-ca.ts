import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { ConnectorCheck } from '../connector';
import type { LocalCaConfig } from './issuer-configs';

/** CA files are small; anything bigger is not what the path was meant to name. */
const MAX_FILE_BYTES = 1024 * 1024;
const EXPIRY_WARNING_DAYS = 30;

class CheckFailed extends Error {}

async function readSmallFile(path: string, field: string): Promise<string> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES' || code === 'EPERM'
          ? 'is not readable by the server process'
          : code === 'EISDIR'
            ? 'is a directory'
            : `cannot be opened (${code ?? 'error'})`;
    throw new CheckFailed(`${field} ${path} ${why}`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new CheckFailed(`${field} ${path} is not a regular file`);
    if (st.size > MAX_FILE_BYTES) throw new CheckFailed(`${field} ${path} is larger than 1 MiB`);
    return await handle.readFile('utf8');
  } catch (e) {
    if (e instanceof CheckFailed) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckFailed(
      `${field} ${path} cannot be read (${code === 'EISDIR' ? 'is a directory' : (code ?? 'error')})`,
    );
  } finally {
    await handle.close();
  }
}

function parseCaCertificate(pem: string, path: string, now: Date): { cert: X509Certificate; warning?: string } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    throw new CheckFailed(`ca_cert_path ${path} does not hold a PEM X.509 certificate`);
  }
  // OpenSSL's CA check: basicConstraints CA:TRUE, and keyCertSign when keyUsage is present.
  if (!cert.ca) {
    throw new CheckFailed(
      `ca_cert_path ${path}: "${cert.subject}" is not a CA certificate that may sign certificates (needs basicConstraints CA:TRUE and keyUsage keyCertSign)`,
    );
  }
  const notAfter = new Date(cert.validTo);
  if (new Date(cert.validFrom).getTime() > now.getTime()) {
    throw new CheckFailed(
      `ca_cert_path ${path}: the CA certificate is not valid before ${new Date(cert.validFrom).toISOString()}`,
    );
  }
  if (notAfter.getTime() <= now.getTime()) {
    throw new CheckFailed(`ca_cert_path ${path}: the CA certificate expired on ${notAfter.toISOString()}`);
  }
  const daysLeft = Math.floor((notAfter.getTime() - now.getTime()) / 86_400_000);
  return {
    cert,
    warning: daysLeft < EXPIRY_WARNING_DAYS ? `the CA certificate expires in ${daysLeft} day(s)` : undefined,
  };
}

function parseKey(pem: string, path: string, passphrase: string | undefined): KeyObject {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new CheckFailed(`ca_key_path ${path} does not hold a PEM private key`);
  }
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem);
  if (encrypted && passphrase === undefined) {
    throw new CheckFailed(`ca_key_path ${path} is encrypted; set ca_key_passphrase`);
  }
  try {
    return createPrivateKey(passphrase === undefined ? pem : { key: pem, passphrase });
  } catch {
    throw new CheckFailed(
      encrypted
        ? `ca_key_path ${path} cannot be decrypted with ca_key_passphrase`
        : `ca_key_path ${path} does not hold a readable private key`,
    );
  }
}

/**
 * Checks a Local CA configuration for real: in sub-CA mode the CA certificate and key
 * files must exist, be readable, hold a currently valid CA certificate that may sign
 * certificates, and a private key that matches it. File contents never reach the message.
 */
export async function checkLocalCa(config: LocalCaConfig, now = new Date()): Promise<ConnectorCheck> {
  if (config.ca_cert_path === undefined || config.ca_key_path === undefined) {
    return {
      ok: true,
      message: 'self-signed mode: the configuration is valid; the CA key pair is generated and kept by the server',
    };
  }
  try {
    const certPem = await readSmallFile(config.ca_cert_path, 'ca_cert_path');
    const keyPem = await readSmallFile(config.ca_key_path, 'ca_key_path');
    const { cert, warning } = parseCaCertificate(certPem, config.ca_cert_path, now);
    const key = parseKey(keyPem, config.ca_key_path, config.ca_key_passphrase);
    if (!cert.checkPrivateKey(key)) {
      throw new CheckFailed(`ca_key_path ${config.ca_key_path} does not match the CA certificate in ca_cert_path`);
    }
    const until = new Date(cert.validTo).toISOString();
    const kind = cert.subject === cert.issuer ? 'root CA' : 'subordinate CA';
    return {
      ok: true,
      message: `sub-CA mode: ${kind} "${cert.subject.replace(/\n/g, ', ')}" valid until ${until}, and the key matches${warning ? `; warning: ${warning}` : ''}`,
    };
  } catch (e) {
    if (e instanceof CheckFailed) return { ok: false, message: e.message };
    throw e;
  }
}
