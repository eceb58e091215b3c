import { readFile } from 'node:fs/promises';
import { invalid } from '@certctl/domain';
import { pemCertificates } from './issued-certificate';

/** Reads a CA bundle (PEM) that signs a CA API's TLS certificate; errors name the field. */
export async function readCaBundle(path: string, field: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw invalid(`${field} ${path} cannot be read (${unreadable((e as NodeJS.ErrnoException).code)})`);
  }
  const certs = pemCertificates(text);
  if (certs.length === 0) throw invalid(`${field} ${path} holds no PEM certificate`);
  return certs.join('');
}

/** readCaBundle when the setting is there; undefined (Node's public roots) when it is not. */
export function readOptionalCaBundle(path: string | undefined, field: string): Promise<string | undefined> {
  return path === undefined ? Promise.resolve(undefined) : readCaBundle(path, field);
}

/** Where a connector's TLS client certificate (mutual TLS) and its key are, as configured. */
export interface ClientCertPaths {
  certPath: string;
  keyPath: string;
  passphrase?: string;
}

/** Reads the client certificate and key files (PEM); errors name the config field. */
export async function readClientCertificate(
  c: ClientCertPaths,
): Promise<{ cert: string; key: string; passphrase?: string }> {
  const read = (path: string, field: string) =>
    readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw invalid(`config.${field} ${path} cannot be read (${unreadable(e.code)})`);
    });
  const [cert, key] = await Promise.all([read(c.certPath, 'client_cert_path'), read(c.keyPath, 'client_key_path')]);
  return { cert, key, passphrase: c.passphrase };
}

function unreadable(code: string | undefined): string {
  return code === 'ENOENT' ? 'does not exist' : (code ?? 'error');
}
