import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, type CommandResult } from './util';

/** Test PKI made with the openssl CLI (an independent implementation from ours). */

export async function openssl(args: string[], input = ''): Promise<CommandResult> {
  const r = await runCommand('openssl', args, { input });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r;
}

export interface CertFiles {
  cert: string;
  key: string;
}

const EC_P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A self-signed ECDSA P-256 CA. */
export async function makeCa(dir: string, name = 'certctl e2e CA'): Promise<CertFiles> {
  const cert = join(dir, 'ca.pem');
  const key = join(dir, 'ca.key');
  await openssl([
    'req', '-x509', ...EC_P256, '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]); // prettier-ignore
  return { cert, key };
}

/** An ECDSA P-256 TLS server certificate for IP 127.0.0.1, issued by `ca`. */
export async function makeServerCert(dir: string, ca: CertFiles, name = 'server'): Promise<CertFiles> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await writeFile(
    ext,
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' +
      'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n',
  );
  await openssl(['req', '-new', ...EC_P256, '-keyout', key, '-out', csr, '-subj', '/CN=127.0.0.1']);
  await openssl([
    'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial',
    '-days', '2', '-sha256', '-extfile', ext, '-out', cert,
  ]); // prettier-ignore
  return { cert, key };
}

/** A self-signed ECDSA P-256 leaf (for mismatched-pair tests). */
export async function makeSelfSigned(dir: string, name: string): Promise<CertFiles> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  await openssl([
    'req', '-x509', ...EC_P256, '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'subjectAltName=IP:127.0.0.1',
  ]); // prettier-ignore
  return { cert, key };
}

/** The first PEM certificate in a text (e.g. `openssl s_client` output). */
export function firstPemCert(text: string): string | undefined {
  return /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(text)?.[0];
}
