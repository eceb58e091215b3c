import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DomainError, ErrorCode } from '@certctl/domain';
import { buildCsr, generateKeyPair, parseCsr, type ParsedCsr } from '@certctl/pki';
import type { IssuanceRequest } from '../issuer-port';
import { validateIssuerConnection } from '../registry';
import { OpenSslConnector } from './openssl-connector';
import { ScriptCa } from './testing/script-ca';

let ca: ScriptCa;
let csr: ParsedCsr;

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sign_script: ca.signScript,
    revoke_script: ca.revokeScript,
    crl_script: ca.crlScript,
    ca_cert_path: ca.caCertPath,
    ...extra,
  };
}

function request(o: Partial<IssuanceRequest> = {}): IssuanceRequest {
  return {
    csr,
    commonName: 'app.example.com',
    sans: { dns: ['app.example.com', 'www.app.example.com'], ip: ['192.0.2.7'] },
    profile: {
      allowed_key_algorithms: [],
      max_ttl_seconds: 10 * 86_400,
      allowed_ekus: [],
      must_staple: false,
    },
    ...o,
  };
}

async function failure(p: Promise<unknown>): Promise<DomainError> {
  const e = await p.catch((x: unknown) => x);
  expect(e).toBeInstanceOf(DomainError);
  return e as DomainError;
}

beforeAll(async () => {
  ca = new ScriptCa();
  csr = await parseCsr(await buildCsr({ keys: await generateKeyPair('ECDSA-P256'), commonName: 'ignored' }));
});

afterAll(() => ca?.remove());

describe('OpenSSL script CA connector (real `openssl ca` scripts)', () => {
  it('signs through sign_script with the certificate names and the profile-capped lifetime', async () => {
    const res = await new OpenSslConnector({ config: config({ default_validity_days: 90 }) }).issue(request());
    const leaf = new X509Certificate(res.certPem);
    expect(leaf.subject).toBe('CN=app.example.com');
    expect(leaf.subjectAltName).toBe('DNS:app.example.com, DNS:www.app.example.com, IP Address:192.0.2.7');
    expect(leaf.checkIssued(new X509Certificate(ca.caPem()))).toBe(true);
    // 90 days configured, capped at the profile's 10 days (openssl ca -enddate).
    expect(res.notAfter.getTime() - Date.now()).toBeLessThanOrEqual(10 * 86_400_000 + 5_000);
    expect(res.notAfter.getTime() - Date.now()).toBeGreaterThan(10 * 86_400_000 - 600_000);
    // The CA is self-signed: the chain above the leaf is empty.
    expect(res.chainPem).toBe('');
    expect(ca.index()).toContain(`\t${res.serialHex.toUpperCase()}\tunknown\t/CN=app.example.com`);
    const dir = join(ca.dir, 'verify');
    writeFileSync(`${dir}.pem`, res.certPem);
    expect(execFileSync('openssl', ['verify', '-CAfile', ca.caCertPath, `${dir}.pem`]).toString()).toContain(': OK');
  });

  it('revokes through revoke_script and the CRL from crl_script lists the serial with its reason', async () => {
    const c = new OpenSslConnector({ config: config() });
    const issued = await c.issue(request());
    await c.revoke({ serialHex: issued.serialHex, reason: 'keyCompromise' });
    expect(ca.index()).toMatch(
      new RegExp(`^R\\t\\d+Z\\t\\d+Z,keyCompromise\\t${issued.serialHex.toUpperCase()}\\t`, 'm'),
    );
    const der = await c.fetchCrl();
    writeFileSync(join(ca.dir, 'got.crl'), der);
    const text = execFileSync('openssl', [
      'crl',
      '-inform',
      'DER',
      '-in',
      join(ca.dir, 'got.crl'),
      '-noout',
      '-text',
    ]).toString();
    expect(text).toContain(`Serial Number: ${issued.serialHex.toUpperCase()}`);
    expect(text).toContain('Key Compromise');
  });

  it('reads the certificate from stdout when the script leaves the file empty', async () => {
    const issued = await new OpenSslConnector({ config: config() }).issue(request());
    const stored = join(ca.dir, 'newcerts', `${issued.serialHex.toUpperCase()}.pem`);
    const printing = ca.script('print.sh', `cat '${stored}'`);
    const res = await new OpenSslConnector({ config: config({ sign_script: printing }) }).issue(request());
    expect(res.serialHex).toBe(issued.serialHex);
  });

  it('runs scripts with a minimal environment: nothing of the server process leaks', async () => {
    process.env.CERTCTL_TEST_SERVER_SECRET = 'do-not-leak';
    try {
      const envDump = ca.script('env.sh', 'env >&2; exit 3');
      const e = await failure(new OpenSslConnector({ config: config({ sign_script: envDump }) }).issue(request()));
      expect(e.code).toBe(ErrorCode.Validation);
      expect(e.message).toContain(`sign_script ${envDump} failed with exit code 3`);
      expect(e.message).toContain('CERTCTL_COMMON_NAME=app.example.com');
      expect(e.message).toContain('CERTCTL_SUBJECT_ALT_NAME=DNS:app.example.com,DNS:www.app.example.com,IP:192.0.2.7');
      expect(e.message).not.toContain('do-not-leak');
    } finally {
      delete process.env.CERTCTL_TEST_SERVER_SECRET;
    }
  });

  it('bounds the stderr carried into the error', async () => {
    const noisy = ca.script(
      'noisy.sh',
      'i=0; while [ $i -lt 2000 ]; do echo "line $i of noise" >&2; i=$((i+1)); done; exit 1',
    );
    const e = await failure(new OpenSslConnector({ config: config({ sign_script: noisy }) }).issue(request()));
    expect(e.message.length).toBeLessThan(2600);
    expect(e.message).toContain('line 1999 of noise');
  });

  it('kills a script (and what it started) that outlives the timeout, with a clear retryable error', async () => {
    const pidFile = join(ca.dir, 'sleep.pid');
    const hung = ca.script('hung.sh', `sleep 120 & echo $! > '${pidFile}'; wait`);
    const e = await failure(
      new OpenSslConnector({ config: config({ sign_script: hung, timeout_seconds: 1 }) }).issue(request()),
    );
    expect(e.code).toBe(ErrorCode.Unavailable);
    expect(e.message).toBe(`sign_script ${hung} did not finish within 1 s and was killed`);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) {
      try {
        process.kill(pid, 0);
        await new Promise((r) => setTimeout(r, 100));
      } catch {
        alive = false;
      }
    }
    expect(alive).toBe(false);
  });

  it('maps exit codes: 75 is "retry later", a missing script and an empty output are permanent', async () => {
    const busy = ca.script('busy.sh', 'echo "CA is locked by another run" >&2; exit 75');
    const retry = await failure(new OpenSslConnector({ config: config({ sign_script: busy }) }).issue(request()));
    expect(retry.code).toBe(ErrorCode.Unavailable);
    expect(retry.message).toContain('asked to retry later (exit 75): CA is locked by another run');

    const missing = await failure(
      new OpenSslConnector({ config: config({ sign_script: join(ca.dir, 'absent.sh') }) }).issue(request()),
    );
    expect(missing.code).toBe(ErrorCode.Validation);
    expect(missing.message).toContain('absent.sh does not exist');

    const silent = ca.script('silent.sh', 'exit 0');
    const empty = await failure(new OpenSslConnector({ config: config({ sign_script: silent }) }).issue(request()));
    expect(empty.message).toContain('exited 0 but produced no PEM certificate');
  });

  it('says the CA was not told when no revoke_script is configured', async () => {
    const e = await failure(
      new OpenSslConnector({ config: config({ revoke_script: undefined }) }).revoke({
        serialHex: '10',
        reason: 'superseded',
      }),
    );
    expect(e.message).toContain('no revoke_script is configured');
  });

  it('passes the connection test with executable scripts and names a script that is not', async () => {
    expect(await validateIssuerConnection('OpenSSL', config())).toEqual({
      ok: true,
      message: 'scripts are executable',
    });
    const plain = ca.script('plain.sh', 'exit 0', 0o644);
    expect(await validateIssuerConnection('OpenSSL', config({ crl_script: plain }))).toEqual({
      ok: false,
      message: `config.crl_script ${plain} is not executable by the server process`,
    });
    expect(existsSync(plain)).toBe(true);
  });
});
