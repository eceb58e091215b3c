import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HttpsClient, type HttpsResponse } from './support/https';
import { openssl } from './support/openssl';
import { cleanupAll, startServer, tempDir, type ServerProcess } from './support/server-process';
import { freePort, pollUntil, runCommand, type CommandResult } from './support/util';

/**
 * The certificate lifecycle, black-box: the built server over HTTPS, the openssl CLI and
 * curl, nothing else.
 * - Agent keygen mode (the default): renew -> AwaitingCSR -> the test plays the agent with an
 *   openssl key + CSR -> the certificate verifies -> the deployment job is claimed and
 *   completed; OCSP (openssl ocsp over HTTPS, and POST/GET via -reqout + curl) says good, then
 *   revoked with the reason after POST /revoke; the CRL lists the serial as Key Compromise and
 *   `openssl verify -crl_check` rejects the leaf. The private key never crosses the API.
 * - Server keygen mode (a second server): renew completes without an agent; the PKCS#12
 *   export opens with openssl and holds the key of the exported certificate.
 */

const tag = randomBytes(3).toString('hex');

interface Env {
  srv: ServerProcess;
  api: HttpsClient;
  admin: string;
  dir: string;
}

/** Every API response body (text) of this file, to prove no private key ever leaves the server. */
const seen: { path: string; text: string }[] = [];

async function boot(keygen: 'agent' | 'server' | undefined): Promise<Env> {
  const port = await freePort();
  const srv = await startServer({
    port,
    env: {
      CERTCTL_CONFIG_ENCRYPTION_KEY: `e2e-lifecycle-key-${randomBytes(16).toString('hex')}`,
      CERTCTL_KEYGEN_MODE: keygen,
      // CRL/OCSP/caIssuers URLs in what the CA signs point at this listener (its TLS certificate names 127.0.0.1).
      CERTCTL_PUBLIC_URL: `https://127.0.0.1:${port}`,
    },
  });
  if (!srv.caFile || !srv.adminKey) throw new Error(`no TLS CA file or admin key in the banner\n${srv.output()}`);
  return {
    srv,
    api: new HttpsClient(srv.port, srv.caFile),
    admin: srv.adminKey,
    dir: await tempDir(`certctl-e2e-life-${keygen ?? 'default'}-`),
  };
}

let agentMode: Env;
let serverMode: Env;

beforeAll(async () => {
  // Agent mode is the default: leave CERTCTL_KEYGEN_MODE unset there.
  [agentMode, serverMode] = await Promise.all([boot(undefined), boot('server')]);
}, 60_000);

afterAll(cleanupAll, 60_000);

async function call(
  e: Env,
  method: 'GET' | 'POST',
  path: string,
  body?: object,
  expected?: number,
  bearer = e.admin,
): Promise<HttpsResponse> {
  const r = await e.api.request(method, path, { bearer, body });
  seen.push({ path, text: r.text });
  if (expected !== undefined) {
    expect({ method, path, status: r.status, body: r.json ?? r.text }).toEqual({
      method,
      path,
      status: expected,
      body: expect.anything(),
    });
  }
  return r;
}

/** curl over HTTPS trusting only the server's TLS CA; the body goes to `out`. */
async function curl(e: Env, url: string, out: string, extra: string[] = []): Promise<{ code: string; type: string }> {
  const r = await runCommand('curl', [
    '-sS', '--noproxy', '*', '--max-time', '10', '--cacert', e.srv.caFile!,
    '-o', out, '-w', '%{http_code} %{content_type}', ...extra, url,
  ]); // prettier-ignore
  expect({ url, exit: r.code, stderr: r.stderr }).toEqual({ url, exit: 0, stderr: '' });
  const [code, type = ''] = r.stdout.split(' ');
  return { code, type };
}

/** openssl that may fail (the caller asserts on the outcome). */
const tryOpenssl = (args: string[]): Promise<CommandResult> => runCommand('openssl', args);

async function pubkeyOfCert(file: string): Promise<string> {
  return (await openssl(['x509', '-in', file, '-noout', '-pubkey'])).stdout;
}

async function pubkeyOfKey(file: string): Promise<string> {
  return (await openssl(['pkey', '-in', file, '-pubout'])).stdout;
}

async function serialOf(file: string): Promise<string> {
  return (await openssl(['x509', '-in', file, '-noout', '-serial'])).stdout.trim().replace(/^serial=/, '');
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The base64 body of the first PEM block of a text, without whitespace. */
function pemBody(text: string): string {
  return (/-----BEGIN [^-]+-----([\s\S]+?)-----END /.exec(text)?.[1] ?? '').replace(/\s+/g, '');
}

async function setUpIssuer(e: Env, prefix: string): Promise<{ issuerId: string; profileId: string }> {
  const issuerId = `iss-e2e-${prefix}-${tag}`;
  const profileId = `prof-e2e-${prefix}-${tag}`;
  await call(e, 'POST', '/api/v1/issuers', { id: issuerId, name: `E2E ${prefix} ${tag}`, type: 'LocalCA' }, 201);
  await call(
    e,
    'POST',
    '/api/v1/profiles',
    {
      id: profileId,
      name: `E2E ${prefix} ${tag}`,
      allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
      max_ttl_seconds: 7 * 86_400,
    },
    201,
  );
  return { issuerId, profileId };
}

/** The issuer's root, as served at its caIssuers URL (DER), converted to PEM, and as listed by the API. */
async function fetchRoot(e: Env, issuerId: string): Promise<string> {
  const der = join(e.dir, 'root.der');
  const got = await curl(e, `${e.srv.baseUrl}/.well-known/pki/ca/${issuerId}.crt`, der);
  expect(got).toEqual({ code: '200', type: 'application/pkix-cert' });
  const rootFile = join(e.dir, 'root.pem');
  await openssl(['x509', '-inform', 'DER', '-in', der, '-out', rootFile]);
  const cas = await call(e, 'GET', `/api/v1/issuers/${issuerId}/intermediates`, undefined, 200);
  const top = cas.json.data.find((c: { top: boolean }) => c.top);
  const listed = join(e.dir, 'root-listed.pem');
  await writeFile(listed, top.cert_pem);
  expect((await openssl(['x509', '-in', listed, '-noout', '-fingerprint', '-sha256'])).stdout).toBe(
    (await openssl(['x509', '-in', rootFile, '-noout', '-fingerprint', '-sha256'])).stdout,
  );
  return rootFile;
}

describe('agent keygen mode (default): renew -> CSR from the agent -> deploy -> OCSP/CRL -> revoke', () => {
  const ids = {
    agent: `ag-e2e-life-${tag}`,
    target: `t-e2e-life-${tag}`,
    cert: `mc-e2e-life-${tag}`,
  };
  let issuerId: string;
  let agentKey: string;
  let renewJob: string;
  let keyFile: string;
  let leafFile: string;
  let rootFile: string;
  let serialHex: string;
  let ocspUrl: string;
  let goodCrlFile: string;

  test('issuer, profile, agent (its key in the response), target and certificate through the API', async () => {
    const e = agentMode;
    ({ issuerId } = await setUpIssuer(e, 'life'));
    const reg = await call(e, 'POST', '/api/v1/agents', { id: ids.agent, name: `life-${tag}` }, 201);
    expect(reg.json.api_key).toMatch(/^cc_/);
    agentKey = reg.json.api_key;
    await call(
      e,
      'POST',
      '/api/v1/targets',
      {
        id: ids.target,
        name: `nginx-${tag}`,
        type: 'NGINX',
        agent_id: ids.agent,
        config: { cert_path: '/etc/nginx/ssl/life.crt', key_path: '/etc/nginx/ssl/life.key' },
      },
      201,
    );
    await call(
      e,
      'POST',
      '/api/v1/certificates',
      {
        id: ids.cert,
        name: `life ${tag}`,
        common_name: 'life.example.com',
        sans: ['www.life.example.com'],
        issuer_id: issuerId,
        profile_id: `prof-e2e-life-${tag}`,
        agent_id: ids.agent,
        target_ids: [ids.target],
      },
      201,
    );
  });

  test('renew -> a job the engine puts in AwaitingCSR, shown in the agent’s work (agent key)', async () => {
    const e = agentMode;
    const job = await call(e, 'POST', `/api/v1/certificates/${ids.cert}/renew`, {}, 202);
    expect(job.json).toMatchObject({ certificate_id: ids.cert, created: true });
    renewJob = job.json.id;
    const work = await pollUntil(
      `job ${renewJob} is AwaitingCSR in the agent's work`,
      () => call(e, 'GET', `/api/v1/agents/${ids.agent}/work`, undefined, undefined, agentKey),
      (r) => r.status === 200 && r.json.data.some((i: { id: string; status: string }) => i.id === renewJob),
      { timeoutMs: 20_000 },
    );
    expect(work.json.data).toEqual([
      expect.objectContaining({
        id: renewJob,
        status: 'AwaitingCSR',
        certificate_id: ids.cert,
        common_name: 'life.example.com',
        key_algorithm: 'ECDSA-P256',
      }),
    ]);
    const j = await call(e, 'GET', `/api/v1/jobs/${renewJob}`, undefined, 200);
    expect(j.json).toMatchObject({ status: 'AwaitingCSR', agent_id: ids.agent });
  });

  test('openssl key + CSR -> POST /agents/{id}/csr -> a certificate that verifies against the issuer root', async () => {
    const e = agentMode;
    keyFile = join(e.dir, 'agent.key');
    const csrFile = join(e.dir, 'agent.csr');
    await openssl([
      'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', keyFile, '-out', csrFile, '-subj', '/CN=life.example.com',
    ]); // prettier-ignore
    const issued = await call(
      e,
      'POST',
      `/api/v1/agents/${ids.agent}/csr`,
      { certificate_id: ids.cert, csr_pem: await readFile(csrFile, 'utf8'), job_id: renewJob },
      201,
      agentKey,
    );
    expect(issued.json).toMatchObject({ job_id: renewJob, certificate_id: ids.cert });
    expect(issued.json.deployment_job_ids).toHaveLength(1);
    leafFile = join(e.dir, 'leaf.pem');
    await writeFile(leafFile, issued.json.certificate_pem);
    serialHex = issued.json.serial_number;
    expect(BigInt(`0x${await serialOf(leafFile)}`)).toBe(BigInt(`0x${serialHex}`));
    // The certificate carries the agent's key and the certificate's own names.
    expect(await pubkeyOfCert(leafFile)).toBe(await pubkeyOfKey(keyFile));
    expect((await openssl(['x509', '-in', leafFile, '-noout', '-ext', 'subjectAltName'])).stdout).toContain(
      'DNS:www.life.example.com',
    );

    // Signed by the issuer's root itself (the OCSP/CRL URLs name the issuer): no intermediates.
    // The server keygen part below signs from an intermediate and verifies with -untrusted.
    expect(issued.json.chain_pem).toBe('');
    rootFile = await fetchRoot(e, issuerId);
    expect((await openssl(['verify', '-CAfile', rootFile, leafFile])).stdout.trim()).toBe(`${leafFile}: OK`);
    // Sanity: the leaf does not verify against another CA (our server's TLS CA).
    expect((await tryOpenssl(['verify', '-CAfile', e.srv.caFile!, leafFile])).code).not.toBe(0);

    const j = await call(e, 'GET', `/api/v1/jobs/${renewJob}`, undefined, 200);
    expect(j.json.status).toBe('Completed');
    ocspUrl = (await openssl(['x509', '-in', leafFile, '-noout', '-ocsp_uri'])).stdout.trim();
    expect(ocspUrl).toBe(`${e.srv.baseUrl}/.well-known/pki/ocsp/${issuerId}`);
  });

  test('the deployment job is in the agent’s work; the agent claims and completes it', async () => {
    const e = agentMode;
    const work = await call(e, 'GET', `/api/v1/agents/${ids.agent}/work`, undefined, 200, agentKey);
    expect(work.json.data).toEqual([
      expect.objectContaining({
        type: 'Deployment',
        status: 'Pending',
        certificate_id: ids.cert,
        target_id: ids.target,
        target_type: 'NGINX',
      }),
    ]);
    const jobId: string = work.json.data[0].id;
    const base = `/api/v1/agents/${ids.agent}/jobs/${jobId}/status`;
    const claimed = await call(e, 'POST', base, { status: 'Running' }, 200, agentKey);
    expect(claimed.json).toMatchObject({ id: jobId, status: 'Running' });
    const versionId: string = claimed.json.version_id;
    // What the agent fetches to deploy: public material only.
    const cert = await call(
      e,
      'GET',
      `/api/v1/agents/${ids.agent}/certificates/${ids.cert}?version_id=${versionId}`,
      undefined,
      200,
      agentKey,
    );
    expect(cert.json.certificate_pem).toBe(await readFile(leafFile, 'utf8'));
    const done = await call(e, 'POST', base, { status: 'Completed', details: { reloaded: true } }, 200, agentKey);
    expect(done.json).toMatchObject({ id: jobId, status: 'Completed' });
    expect((await call(e, 'GET', `/api/v1/agents/${ids.agent}/work`, undefined, 200, agentKey)).json.data).toEqual([]);
    expect((await call(e, 'GET', `/api/v1/jobs/${jobId}`, undefined, 200)).json.status).toBe('Completed');
  });

  test('the server never held the key: no PKCS#12 export (409); PEM export is the same leaf', async () => {
    const e = agentMode;
    const p12 = await call(e, 'POST', `/api/v1/certificates/${ids.cert}/export/pkcs12`, { password: 'pw-123456789' });
    expect(p12.status).toBe(409);
    const pem = await call(e, 'GET', `/api/v1/certificates/${ids.cert}/export/pem`, undefined, 200);
    expect(pem.json.certificate_pem).toBe(await readFile(leafFile, 'utf8'));
    await call(e, 'GET', `/api/v1/certificates/${ids.cert}`, undefined, 200);
    await call(e, 'GET', `/api/v1/certificates/${ids.cert}/versions`, undefined, 200);
  });

  /** `openssl ocsp` status lines for a DER response fetched by curl (no nonce in either). */
  async function ocspStatusOf(respFile: string): Promise<string> {
    const r = await openssl([
      'ocsp', '-respin', respFile, '-issuer', rootFile, '-cert', leafFile, '-no_nonce', '-CAfile', rootFile,
    ]); // prettier-ignore
    expect(r.stderr).toContain('Response verify OK');
    return r.stdout;
  }

  async function ocspViaCurl(label: string): Promise<{ post: string; get: string }> {
    const e = agentMode;
    const reqFile = join(e.dir, `${label}-req.der`);
    await openssl(['ocsp', '-issuer', rootFile, '-cert', leafFile, '-no_nonce', '-reqout', reqFile]);
    const postResp = join(e.dir, `${label}-post.der`);
    expect(
      await curl(e, ocspUrl, postResp, [
        '-X', 'POST', '-H', 'Content-Type: application/ocsp-request', '--data-binary', `@${reqFile}`,
      ]), // prettier-ignore
    ).toEqual({ code: '200', type: 'application/ocsp-response' });
    const getResp = join(e.dir, `${label}-get.der`);
    const b64 = (await readFile(reqFile)).toString('base64');
    expect(await curl(e, `${ocspUrl}/${encodeURIComponent(b64)}`, getResp)).toEqual({
      code: '200',
      type: 'application/ocsp-response',
    });
    return { post: await ocspStatusOf(postResp), get: await ocspStatusOf(getResp) };
  }

  /** openssl ocsp as the client, POSTing (with a nonce) to the URL in the leaf's AIA. */
  async function ocspDirect(): Promise<string> {
    // openssl ocsp does not authenticate the responder's TLS server (it sets no verify
    // paths for TLS); the response itself is verified against -CAfile (the issuer root).
    const r = await openssl([
      'ocsp', '-issuer', rootFile, '-cert', leafFile, '-url', ocspUrl, '-CAfile', rootFile, '-timeout', '10',
    ]); // prettier-ignore
    expect(r.stderr).toContain('Response verify OK');
    expect(r.stderr).not.toMatch(/nonce/i); // the nonce was echoed
    return r.stdout;
  }

  async function fetchCrl(label: string): Promise<{ pem: string; text: string }> {
    const e = agentMode;
    const der = join(e.dir, `${label}-crl.der`);
    expect(await curl(e, `${e.srv.baseUrl}/.well-known/pki/crl/${issuerId}`, der)).toEqual({
      code: '200',
      type: 'application/pkix-crl',
    });
    const pem = join(e.dir, `${label}-crl.pem`);
    await openssl(['crl', '-inform', 'DER', '-in', der, '-out', pem]);
    // The CRL is signed by the root.
    const verified = await openssl(['crl', '-in', pem, '-noout', '-CAfile', rootFile]);
    expect(verified.stderr + verified.stdout).toContain('verify OK');
    return { pem, text: (await openssl(['crl', '-inform', 'DER', '-in', der, '-noout', '-text'])).stdout };
  }

  test('before revocation: OCSP good (openssl POST with nonce, curl POST and GET); CRL without the serial', async () => {
    const goodLine = new RegExp(`^${escapeRe(leafFile)}: good$`, 'm');
    expect(await ocspDirect()).toMatch(goodLine);
    const viaCurl = await ocspViaCurl('before');
    expect(viaCurl.post).toMatch(goodLine);
    expect(viaCurl.get).toMatch(goodLine);

    const crl = await fetchCrl('before');
    goodCrlFile = crl.pem;
    expect(crl.text).not.toContain(await serialOf(leafFile));
    const verified = await openssl(['verify', '-crl_check', '-CRLfile', goodCrlFile, '-CAfile', rootFile, leafFile]);
    expect(verified.stdout.trim()).toBe(`${leafFile}: OK`);
  });

  test('revoke {reason: keyCompromise} -> OCSP revoked with the reason (all forms), CRL lists it, verify fails', async () => {
    const e = agentMode;
    const revoked = await call(e, 'POST', `/api/v1/certificates/${ids.cert}/revoke`, { reason: 'keyCompromise' }, 200);
    expect(revoked.json.status).toBe('Revoked');

    const revokedLine = new RegExp(`^${escapeRe(leafFile)}: revoked$[\\s\\S]*Reason: keyCompromise`, 'm');
    expect(await ocspDirect()).toMatch(revokedLine);
    const viaCurl = await ocspViaCurl('after');
    expect(viaCurl.post).toMatch(revokedLine);
    expect(viaCurl.get).toMatch(revokedLine);

    const crl = await fetchCrl('after');
    const serial = await serialOf(leafFile);
    expect(crl.text).toMatch(
      new RegExp(`Serial Number: ${serial}\\s+Revocation Date: [^\\n]+\\s+CRL entry extensions:`),
    );
    const entry = crl.text.slice(crl.text.indexOf(`Serial Number: ${serial}`));
    expect(entry).toMatch(/^\s+X509v3 CRL Reason Code:\s*\n\s+Key Compromise$/m);

    const failed = await tryOpenssl(['verify', '-crl_check', '-CRLfile', crl.pem, '-CAfile', rootFile, leafFile]);
    expect(failed.code).not.toBe(0);
    expect(failed.stdout + failed.stderr).toContain('certificate revoked');
  });

  test('no API response ever carried the agent’s private key', async () => {
    const keyBody = pemBody(await readFile(keyFile, 'utf8'));
    expect(keyBody.length).toBeGreaterThan(100);
    const leaks = seen.filter(
      (s) => /PRIVATE KEY/.test(s.text) || s.text.replace(/\\n|\s/g, '').includes(keyBody.slice(0, 64)),
    );
    expect(leaks.map((s) => s.path)).toEqual([]);
    expect(seen.length).toBeGreaterThan(15);
  });
});

describe('server keygen mode: renew completes without an agent; PKCS#12 and PEM export', () => {
  const certId = `mc-e2e-srvkey-${tag}`;
  const password = `p12-${randomBytes(9).toString('hex')}`;

  test('renew -> job Completed by the server; the PKCS#12 export opens and holds the certificate’s key', async () => {
    const e = serverMode;
    const { issuerId, profileId } = await setUpIssuer(e, 'srvkey');
    // One intermediate under the root: it signs the leaf, so the export carries a chain.
    const ica = await call(
      e,
      'POST',
      `/api/v1/issuers/${issuerId}/intermediates`,
      { name: 'Issuing CA', common_name: `E2E srvkey Issuing CA ${tag}` },
      201,
    );
    expect(ica.json).toMatchObject({ issuing: true, top: false });
    await writeFile(join(e.dir, 'ica.pem'), ica.json.cert_pem);
    await call(
      e,
      'POST',
      '/api/v1/certificates',
      {
        id: certId,
        name: certId,
        common_name: 'srvkey.example.com',
        issuer_id: issuerId,
        profile_id: profileId,
      },
      201,
    );
    const job = await call(e, 'POST', `/api/v1/certificates/${certId}/renew`, {}, 202);
    const jobId: string = job.json.id;
    const done = await pollUntil(
      `job ${jobId} finishes`,
      () => call(e, 'GET', `/api/v1/jobs/${jobId}`),
      (r) => ['Completed', 'Failed'].includes(r.json?.status),
      { timeoutMs: 20_000 },
    );
    expect({ status: done.json.status, error: done.json.last_error, agent: done.json.agent_id }).toEqual({
      status: 'Completed',
      error: null,
      agent: null,
    });

    const p12 = join(e.dir, 'export.p12');
    const got = await curl(e, `${e.srv.baseUrl}/api/v1/certificates/${certId}/export/pkcs12`, p12, [
      '-X', 'POST', '-H', `Authorization: Bearer ${e.admin}`, '-H', 'Content-Type: application/json',
      '--data', JSON.stringify({ password }),
    ]); // prettier-ignore
    expect(got).toEqual({ code: '200', type: 'application/x-pkcs12' });

    const info = await openssl(['pkcs12', '-info', '-nokeys', '-in', p12, '-passin', `pass:${password}`]);
    const infoText = info.stdout + info.stderr;
    expect(infoText).toContain('AES-256-CBC');
    expect(infoText).toMatch(/PBKDF2/);
    expect(infoText).not.toMatch(/RC2|3DES|DES-EDE3/i);
    expect(infoText).toContain('subject=CN = srvkey.example.com');
    // A wrong password does not open it.
    expect(
      (await tryOpenssl(['pkcs12', '-info', '-nokeys', '-in', p12, '-passin', 'pass:wrong-password'])).code,
    ).not.toBe(0);

    const p12Leaf = join(e.dir, 'p12-leaf.pem');
    const p12Key = join(e.dir, 'p12.key');
    await openssl(['pkcs12', '-in', p12, '-clcerts', '-nokeys', '-passin', `pass:${password}`, '-out', p12Leaf]);
    await openssl(['pkcs12', '-in', p12, '-nocerts', '-nodes', '-passin', `pass:${password}`, '-out', p12Key]);
    expect(await pubkeyOfKey(p12Key)).toBe(await pubkeyOfCert(p12Leaf));

    // GET export/pem: the same leaf, and no key.
    const pem = await call(e, 'GET', `/api/v1/certificates/${certId}/export/pem`, undefined, 200);
    expect(pem.text).not.toContain('PRIVATE KEY');
    const pemLeaf = join(e.dir, 'pem-leaf.pem');
    await writeFile(pemLeaf, pem.json.certificate_pem);
    const fp = async (f: string) => (await openssl(['x509', '-in', f, '-noout', '-fingerprint', '-sha256'])).stdout;
    expect(await fp(pemLeaf)).toBe(await fp(p12Leaf));

    // It chains to the issuer root (caIssuers URL, and the intermediates list) through the intermediate.
    const rootFile = await fetchRoot(e, issuerId);
    const chainFile = join(e.dir, 'chain.pem');
    await writeFile(chainFile, pem.json.chain_pem);
    expect(await fp(chainFile)).toBe(await fp(join(e.dir, 'ica.pem')));
    const verified = await openssl(['verify', '-CAfile', rootFile, '-untrusted', chainFile, pemLeaf]);
    expect(verified.stdout.trim()).toBe(`${pemLeaf}: OK`);
    expect((await tryOpenssl(['verify', '-CAfile', rootFile, pemLeaf])).code).not.toBe(0);

    // No JSON response of this server carried the key (the PKCS#12 file is the one way out).
    const keyBody = pemBody(await readFile(p12Key, 'utf8'));
    expect(keyBody.length).toBeGreaterThan(100);
    expect(seen.filter((s) => s.text.replace(/\\n|\s/g, '').includes(keyBody.slice(0, 64))).map((s) => s.path)).toEqual(
      [],
    );
  });
});
