import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { multipartParts } from './support/est-client';
import { createIssuerAndProfile, type HttpsClient } from './support/https';
import {
  cleanupAll,
  runServerExpectingExit,
  SERVER_MAIN,
  startIssuingServer,
  tempDir,
  type ServerProcess,
} from './support/server-process';
import { runCommand, type CommandResult } from './support/util';

/**
 * EST against the built server with the clients TESTING.md names: curl for HTTP and
 * openssl for everything else (Debian ships no EST client). The enrollment password is
 * configured as the hash the built `est:hash-password` CLI prints.
 */
const tag = randomBytes(3).toString('hex');
const USER = 'device';
const PASSWORD = `est-e2e-${tag}-pw`;
let srv: ServerProcess;
let api: HttpsClient;
let dir: string;
let base: string;

/** TESTING.md's b64d and the curl options every call shares (TLS CA of the server). */
const PRELUDE = `set -euo pipefail
b64d() { tr -d '\\r\\n' | openssl base64 -d -A; }
`;

async function sh(script: string): Promise<CommandResult> {
  const r = await runCommand('bash', ['-c', PRELUDE + script], { cwd: dir, timeoutMs: 60_000 });
  expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ code: 0, stderr: '' });
  return r;
}

beforeAll(async () => {
  const hashed = await runCommand(process.execPath, [join(dirname(SERVER_MAIN), 'cli', 'hash-password.js')], {
    input: `${PASSWORD}\n`,
  });
  expect(hashed.code).toBe(0);
  const hash = hashed.stdout.trim();
  expect(hash).toMatch(/^scrypt\$\d+\$\d+\$\d+\$/);
  const ids = { issuer: `iss-e2e-est-${tag}`, profile: `prof-e2e-est-${tag}` };
  ({ srv, api } = await startIssuingServer('est', {
    CERTCTL_EST_ENABLED: 'true',
    CERTCTL_EST_ISSUER_ID: ids.issuer,
    CERTCTL_EST_PROFILE_ID: ids.profile,
    CERTCTL_EST_USERNAME: USER,
    CERTCTL_EST_PASSWORD_HASH: hash,
  }));
  await createIssuerAndProfile(api, srv.adminKey!, ids, `EST e2e ${tag}`);
  dir = await tempDir('certctl-e2e-est-');
  await writeFile(join(dir, 'ca.pem'), await readFile(srv.caFile!));
  base = `https://127.0.0.1:${srv.port}/.well-known/est`;
}, 60_000);

afterAll(cleanupAll, 60_000);

const CURL = `curl -sS --fail-with-body --cacert ca.pem`;
const POST_CSR = `-H 'Content-Type: application/pkcs10' -H 'Content-Transfer-Encoding: base64'`;

it('cacerts, simpleenroll with Basic, openssl verify; a wrong password is 401', async () => {
  await sh(`
    ${CURL} ${base}/cacerts | b64d | openssl pkcs7 -inform DER -print_certs -out est-ca.pem
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dev.key -subj /CN=dev1 \\
      -addext subjectAltName=DNS:dev1 -outform DER -out dev.der 2>/dev/null
    openssl base64 -in dev.der -out dev.b64
    ${CURL} -u ${USER}:${PASSWORD} ${POST_CSR} --data-binary @dev.b64 ${base}/simpleenroll \\
      | b64d | openssl pkcs7 -inform DER -print_certs -out dev.pem`);
  const verify = await sh(`openssl verify -CAfile est-ca.pem dev.pem`);
  expect(verify.stdout).toBe('dev.pem: OK\n');
  const subject = await sh(`openssl x509 -in dev.pem -noout -subject -ext subjectAltName`);
  expect(subject.stdout).toContain('subject=CN = dev1');
  expect(subject.stdout).toContain('DNS:dev1');
  // The certificate carries the key of the CSR.
  const keys = await sh(
    `openssl pkey -in dev.key -pubout | openssl sha256; openssl x509 -in dev.pem -noout -pubkey | openssl sha256`,
  );
  const [a, b] = keys.stdout.trim().split('\n');
  expect(a).toBe(b);

  const wrong = await runCommand(
    'bash',
    [
      '-c',
      `curl -sS -o /dev/null -w '%{http_code} %header{www-authenticate}' --cacert ca.pem -u ${USER}:nope ${POST_CSR} --data-binary @dev.b64 ${base}/simpleenroll`,
    ],
    { cwd: dir },
  );
  expect(wrong.stdout).toBe('401 Basic realm="certctl EST", charset="UTF-8"');
});

it('simplereenroll with curl --cert/--key: a new certificate for the same names', async () => {
  await sh(`
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dev2.key -subj /CN=dev1 \\
      -addext subjectAltName=DNS:dev1 -outform DER -out dev2.der 2>/dev/null
    openssl base64 -in dev2.der -out dev2.b64
    ${CURL} --cert dev.pem --key dev.key -u ${USER}:${PASSWORD} ${POST_CSR} --data-binary @dev2.b64 \\
      ${base}/simplereenroll | b64d | openssl pkcs7 -inform DER -print_certs -out dev2.pem`);
  expect((await sh(`openssl verify -CAfile est-ca.pem dev2.pem`)).stdout).toBe('dev2.pem: OK\n');
  const serials = await sh(
    `openssl x509 -in dev.pem -noout -serial; openssl x509 -in dev2.pem -noout -serial -subject`,
  );
  const [old, renewed, subject] = serials.stdout.trim().split('\n');
  expect(renewed).not.toBe(old);
  expect(subject).toBe('subject=CN = dev1');
  // Without the client certificate re-enrollment is refused.
  const noCert = await runCommand(
    'bash',
    [
      '-c',
      `curl -sS -o /dev/null -w '%{http_code}' --cacert ca.pem -u ${USER}:${PASSWORD} ${POST_CSR} --data-binary @dev2.b64 ${base}/simplereenroll`,
    ],
    { cwd: dir },
  );
  expect(noCert.stdout).toBe('401');
});

it('csrattrs parses with openssl asn1parse', async () => {
  await sh(`${CURL} -D attrs.h ${base}/csrattrs | b64d > attrs.der`);
  expect((await readFile(join(dir, 'attrs.h'), 'utf8')).toLowerCase()).toContain('content-type: application/csrattrs');
  const parsed = await sh(`openssl asn1parse -inform DER -in attrs.der`);
  expect(parsed.stdout).toMatch(/OBJECT\s+:id-ecPublicKey/);
  expect(parsed.stdout).toMatch(/OBJECT\s+:prime256v1/);
  expect(parsed.stdout).toMatch(/OBJECT\s+:Extension Request/);
  expect(parsed.stdout).toMatch(/OBJECT\s+:ecdsa-with-SHA256/);
});

it('serverkeygen: the multipart answer holds a PKCS#8 key and the certificate for it', async () => {
  await sh(`
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout throwaway.key -subj /CN=kg1 \\
      -outform DER -out kg.der 2>/dev/null
    openssl base64 -in kg.der -out kg.b64
    ${CURL} -D kg.h -o kg.body -u ${USER}:${PASSWORD} ${POST_CSR} --data-binary @kg.b64 ${base}/serverkeygen`);
  const headers = await readFile(join(dir, 'kg.h'), 'utf8');
  const type = /^content-type:\s*(.+?)\r?$/im.exec(headers)?.[1] ?? '';
  expect(type).toMatch(/^multipart\/mixed; boundary=/);
  const [key, cert] = multipartParts(type, await readFile(join(dir, 'kg.body')));
  expect(key.headers['content-type']).toBe('application/pkcs8');
  expect(cert.headers['content-type']).toBe('application/pkcs7-mime; smime-type=certs-only');
  await writeFile(join(dir, 'kg.p8'), key.body);
  await writeFile(join(dir, 'kg.p7'), cert.body);
  await sh(`openssl pkcs7 -inform DER -in kg.p7 -print_certs -out kg.pem
    openssl pkey -inform DER -in kg.p8 -out kg.key`);
  expect((await sh(`openssl verify -CAfile est-ca.pem kg.pem`)).stdout).toBe('kg.pem: OK\n');
  const match = await sh(
    `openssl pkey -in kg.key -pubout | openssl sha256; openssl x509 -in kg.pem -noout -pubkey | openssl sha256; openssl pkey -in throwaway.key -pubout | openssl sha256`,
  );
  const [fromKey, fromCert, clientKey] = match.stdout.trim().split('\n');
  expect(fromKey).toBe(fromCert);
  expect(fromCert).not.toBe(clientKey);
  expect((await sh(`openssl x509 -in kg.pem -noout -subject`)).stdout.trim()).toBe('subject=CN = kg1');
});

it('refuses to boot when a label trust bundle cannot be read, naming the variable', async () => {
  const r = await runServerExpectingExit({
    CERTCTL_CONFIG_ENCRYPTION_KEY: `e2e-est-boot-${tag}-0123456789abcdef`,
    CERTCTL_EST_ENABLED: 'true',
    CERTCTL_EST_AUTH: 'mtls',
    CERTCTL_EST_TRUST_BUNDLE_PATH: join(dir, 'missing-bundle.pem'),
  });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('CERTCTL_EST_TRUST_BUNDLE_PATH: cannot read');
  expect(r.stderr).toContain('missing-bundle.pem');
});
