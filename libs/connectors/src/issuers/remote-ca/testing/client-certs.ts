import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Client certificates for mutual-TLS CA APIs (Entrust CA Gateway, GlobalSign Atlas), made
 * with the real openssl CLI: a client CA the fake API trusts, a client certificate it signed
 * (clientAuth), and a stranger signed by another CA that the API must refuse. Test only.
 */
export interface ClientCertFiles {
  /** PEM of the CA the fake API trusts for client certificates. */
  clientCaPem: string;
  cert: string;
  key: string;
  /** A client certificate from a CA the API does not trust. */
  strangerCert: string;
  strangerKey: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

function selfSignedCa(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}-ca.pem`);
  const key = join(dir, `${name}-ca.key`);
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name} Client CA`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { cert, key };
}

/** Writes the client CA, the trusted client certificate (`cn`) and a stranger under `dir`. */
export function makeClientCerts(dir: string, cn = 'certctl-client'): ClientCertFiles {
  const trusted = selfSignedCa(dir, 'trusted');
  const other = selfSignedCa(dir, 'other');
  const sign = (ca: { cert: string; key: string }, name: string) => {
    const key = join(dir, `${name}.key`);
    const csr = join(dir, `${name}.csr`);
    const cert = join(dir, `${name}.pem`);
    const ext = join(dir, `${name}.ext`);
    openssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      key,
      '-out',
      csr,
    ]);
    writeFileSync(ext, 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n');
    openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      ext,
      '-out',
      cert,
    ]);
    return { cert, key };
  };
  const client = sign(trusted, cn);
  const stranger = sign(other, 'stranger');
  return {
    clientCaPem: readFileSync(trusted.cert, 'utf8'),
    cert: client.cert,
    key: client.key,
    strangerCert: stranger.cert,
    strangerKey: stranger.key,
  };
}
