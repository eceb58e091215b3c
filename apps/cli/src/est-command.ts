import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import {
  buildCsr,
  derToPem,
  exportPrivateKeyPem,
  generateKeyPair,
  keyMatchesSpki,
  pemToDers,
  sansFromStrings,
  type KeyAlgorithm,
} from '@certctl/pki';
import { EstClient, EstPendingError } from './est';
import { describeError, print, type GlobalOptions, type Result } from './output';
import { CERTCTL_VERSION as CLI_VERSION } from '@certctl/api-client';

/** `--key-type` values and the key algorithm each generates. */
const KEY_TYPES: Record<string, KeyAlgorithm> = { 'ecdsa-p256': 'ECDSA-P256', 'rsa-2048': 'RSA-2048' };

const CERT_COLUMNS = ['subject', 'issuer', 'serial', 'not_after', 'fingerprint_sha256'];

interface EstOptions {
  label?: string;
  username?: string;
  password?: string;
  clientCert?: string;
  clientKey?: string;
}

interface EnrollOptions extends EstOptions {
  cn: string;
  dns: string[];
  ip: string[];
  keyType: string;
  keyOut?: string;
  certOut?: string;
  force?: boolean;
}

function readOption(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${flag} ${file}: ${(e as Error).message}`, { cause: e });
  }
}

function estClient(g: GlobalOptions, o: EstOptions): EstClient {
  if (!g.server) throw new Error('no server: give --server or set CERTCTL_SERVER_URL');
  if (!!o.clientCert !== !!o.clientKey) throw new Error('--client-cert and --client-key go together');
  if (o.username !== undefined && o.password === undefined) {
    throw new Error('--username needs --password (or CERTCTL_EST_PASSWORD)');
  }
  return new EstClient({
    server: g.server,
    caBundlePem: g.caBundle ? readOption('--ca-bundle', g.caBundle) : undefined,
    username: o.username,
    password: o.password,
    clientCertPem: o.clientCert ? readOption('--client-cert', o.clientCert) : undefined,
    clientKeyPem: o.clientKey ? readOption('--client-key', o.clientKey) : undefined,
    userAgent: `certctl-cli/${CLI_VERSION}`,
  });
}

/** What the CLI shows of a certificate (table row and JSON object). */
function describe(der: Uint8Array): Record<string, string | boolean> {
  const x = new X509Certificate(der);
  return {
    subject: x.subject.split('\n').filter(Boolean).join(','),
    issuer: x.issuer.split('\n').filter(Boolean).join(','),
    serial: x.serialNumber.toLowerCase(),
    not_before: new Date(x.validFrom).toISOString(),
    not_after: new Date(x.validTo).toISOString(),
    fingerprint_sha256: x.fingerprint256.replace(/:/g, '').toLowerCase(),
    is_ca: x.ca,
  };
}

const pemOf = (ders: Uint8Array[]): string => ders.map((d) => derToPem(d, 'CERTIFICATE')).join('');

/** Like main's action(): prints the result, and turns any failure into stderr and exit code 1. */
function estAction<O extends EstOptions>(
  body: (est: EstClient, g: GlobalOptions, o: O) => Promise<Result | undefined>,
): (o: O, cmd: Command) => Promise<void> {
  return async (o, cmd) => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    let est: EstClient | undefined;
    try {
      est = estClient(g, o);
      const r = await body(est, g, o);
      if (r) print(g, r);
    } catch (e) {
      const msg =
        e instanceof EstPendingError
          ? `pending: ${e.message}${e.retryAfterSeconds ? ` (retry after ${e.retryAfterSeconds} s)` : ''}`
          : describeError(e);
      process.stderr.write(msg + '\n');
      process.exitCode = 1;
    } finally {
      await est?.close();
    }
  };
}

const collect = (v: string, prev: string[]): string[] => [
  ...prev,
  ...v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

function withAuthOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--username <name>', 'HTTP Basic user of the EST label').env('CERTCTL_EST_USERNAME'))
    .addOption(new Option('--password <secret>', 'HTTP Basic password').env('CERTCTL_EST_PASSWORD'))
    .option('--client-cert <file>', 'PEM TLS client certificate (labels that authenticate with mTLS)')
    .option('--client-key <file>', 'PEM private key of --client-cert');
}

export function estCommand(): Command {
  const est = new Command('est').description(
    'EST enrollment (RFC 7030) against /.well-known/est: no API key, the label authenticates',
  );

  est
    .command('cacerts')
    .description('the CA certificates of an EST label, as PEM')
    .option('--label <label>', 'EST label (default: the unnamed label)')
    .option('--out <file>', 'write the PEM certificates to this file instead of stdout')
    .action(
      estAction(async (client, g, o: EstOptions & { out?: string }) => {
        const ders = await client.cacerts(o.label);
        const certs = ders.map((d) => ({ ...describe(d), pem: derToPem(d, 'CERTIFICATE') }));
        if (o.out) await writeFile(o.out, pemOf(ders));
        else if (g.format === 'table') {
          // PEM on stdout is what `> ca.pem` or `| openssl` wants.
          process.stdout.write(pemOf(ders));
          return undefined;
        }
        const rows = certs.map(({ pem: _pem, ...rest }) => rest);
        return { rows, columns: CERT_COLUMNS, json: { certificates: certs, ...(o.out ? { file: o.out } : {}) } };
      }),
    );

  withAuthOptions(
    est
      .command('enroll')
      .description('generate a key here, send its CSR to simpleenroll, write the key and the issued certificate'),
  )
    .requiredOption('--cn <name>', 'subject common name')
    .option('--dns <names>', 'DNS subjectAltName (repeatable, or comma-separated)', collect, [])
    .option('--ip <addresses>', 'IP subjectAltName (repeatable, or comma-separated)', collect, [])
    .option('--label <label>', 'EST label (default: the unnamed label)')
    .addOption(new Option('--key-type <type>', 'key to generate').choices(Object.keys(KEY_TYPES)).default('ecdsa-p256'))
    .option('--key-out <file>', 'private key file, PKCS#8 PEM, mode 0600 (default: <cn>.key)')
    .option('--cert-out <file>', 'certificate file, PEM, issued certificate first (default: <cn>.pem)')
    .option('--force', 'overwrite existing key and certificate files')
    .action(
      estAction(async (client, _g, o: EnrollOptions) => {
        const keyOut = o.keyOut ?? `${o.cn}.key`;
        const certOut = o.certOut ?? `${o.cn}.pem`;
        // Checked before enrolling so that a refusal does not spend an enrollment.
        for (const f of [keyOut, certOut]) {
          if (!o.force && existsSync(f)) throw new Error(`${f} exists: give --force to overwrite it`);
        }
        const sans = sansFromStrings([...o.dns.map((d) => `DNS:${d}`), ...o.ip.map((i) => `IP:${i}`)], '--dns/--ip');
        // The private key is generated here and never leaves this process except into --key-out.
        const keys = await generateKeyPair(KEY_TYPES[o.keyType]);
        const csrPem = await buildCsr({ keys, commonName: o.cn, sans });
        const [csrDer] = pemToDers(csrPem, ['CERTIFICATE REQUEST'], 'csr');
        const issued = await client.simpleenroll(csrDer, o.label);
        const leaf = new X509Certificate(issued[0]);
        const spki = new Uint8Array(leaf.publicKey.export({ type: 'spki', format: 'der' }));
        if (!keyMatchesSpki(keys.privateKey, spki)) {
          throw new Error('the issued certificate does not carry the key of the request; nothing written');
        }
        await writeFile(keyOut, exportPrivateKeyPem(keys.privateKey), { mode: 0o600 });
        await chmod(keyOut, 0o600); // mode only applies when the file is created (--force over an old one)
        await writeFile(certOut, pemOf(issued));
        const cert = describe(issued[0]);
        const record = { ...cert, key_file: keyOut, cert_file: certOut, chain_length: issued.length };
        return { record, json: { ...record, pem: pemOf(issued) } };
      }),
    );

  return est;
}
