import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ScriptCa } from '../../libs/connectors/src/issuers/openssl/testing/script-ca';
import { apiCall, type HttpsClient, type HttpsResponse } from './https';
import { openssl } from './openssl';
import { startIssuingServer, tempDir, type ServerProcess } from './server-process';
import { pollUntil, runCommand } from './util';

/**
 * What the OpenSSL-script issuer e2e specs share: the built server beside a ScriptCa (real
 * `openssl ca` over an index.txt CA, with the sign, revoke and CRL scripts an operator would
 * write), and an agent's part of an issuance played by the openssl CLI.
 */

/** An API call as admin (or as `bearer`); with `expected`, the status is checked. */
export type ApiCaller = (
  method: 'GET' | 'POST',
  path: string,
  body?: object,
  expected?: number,
  bearer?: string,
) => Promise<HttpsResponse>;

export interface ScriptCaServer {
  srv: ServerProcess;
  api: HttpsClient;
  admin: string;
  call: ApiCaller;
  ca: ScriptCa;
  /** A temp dir (the CA's and the agent's files), removed by cleanupAll. */
  dir: string;
}

/** The server (startIssuingServer `label`; stopped by cleanupAll) and a ScriptCa under a `dirLabel` temp dir. */
export async function startScriptCaServer(label: string, dirLabel: string): Promise<ScriptCaServer> {
  const { srv, api, admin } = await startIssuingServer(label);
  const dir = await tempDir(dirLabel);
  const call: ApiCaller = (method, path, body, expected, bearer = admin) =>
    apiCall(api, bearer, method, path, body, expected);
  return { srv, api, admin, call, ca: new ScriptCa(dir), dir };
}

/** The OpenSSL issuer config that runs all of the ScriptCa's scripts. */
export function scriptCaIssuerConfig(ca: ScriptCa): Record<string, unknown> {
  return {
    sign_script: ca.signScript,
    revoke_script: ca.revokeScript,
    crl_script: ca.crlScript,
    ca_cert_path: ca.caCertPath,
    timeout_seconds: 30,
  };
}

/**
 * An ECDSA P-256 profile (5-day certificates, `profile` fields added), an agent, and a
 * certificate of `ids.issuer` whose key the agent holds, through the API. Returns the
 * agent's API key.
 */
export async function createAgentCertificate(
  call: ApiCaller,
  ids: { issuer: string; profile: string; agent: string; cert: string },
  certificate: { common_name: string; sans?: string[] },
  profile: Record<string, unknown> = {},
): Promise<string> {
  await call(
    'POST',
    '/api/v1/profiles',
    {
      id: ids.profile,
      name: ids.profile,
      allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
      max_ttl_seconds: 5 * 86_400,
      ...profile,
    },
    201,
  );
  const agent = await call('POST', '/api/v1/agents', { id: ids.agent, name: ids.agent }, 201);
  await call(
    'POST',
    '/api/v1/certificates',
    {
      id: ids.cert,
      name: ids.cert,
      ...certificate,
      issuer_id: ids.issuer,
      profile_id: ids.profile,
      agent_id: ids.agent,
    },
    201,
  );
  return agent.json.api_key;
}

/**
 * The agent's part of a renewal: renew `ids.cert` through the API, wait until the job asks
 * for a CSR, make a fresh P-256 key (`agent.key` in `s.dir`) and a CSR for `subject` with
 * openssl, and hand it in with the agent's key. Expects it issued; returns the answer and
 * the key file.
 */
export async function renewWithAgentCsr(
  s: ScriptCaServer,
  ids: { agent: string; cert: string },
  agentKey: string,
  subject: string,
): Promise<{ issued: HttpsResponse; keyFile: string }> {
  const job = await s.call('POST', `/api/v1/certificates/${ids.cert}/renew`, {}, 202);
  const jobId: string = job.json.id;
  await pollUntil(
    `job ${jobId} is AwaitingCSR`,
    () => s.call('GET', `/api/v1/jobs/${jobId}`),
    (r) => r.status === 200 && r.json.status === 'AwaitingCSR',
    { timeoutMs: 20_000 },
  );
  const keyFile = join(s.dir, 'agent.key');
  const csrFile = join(s.dir, 'agent.csr');
  await openssl([
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyFile, '-out', csrFile, '-subj', subject,
  ]); // prettier-ignore
  const issued = await s.call(
    'POST',
    `/api/v1/agents/${ids.agent}/csr`,
    { certificate_id: ids.cert, csr_pem: await readFile(csrFile, 'utf8'), job_id: jobId },
    undefined,
    agentKey,
  );
  // The body says what a script or openssl refused.
  expect({ status: issued.status, body: issued.status === 201 ? 'issued' : issued.json }).toEqual({
    status: 201,
    body: 'issued',
  });
  return { issued, keyFile };
}

/**
 * GET an issuer's CRL from the server (/.well-known/pki/crl/<issuer id>) with curl into a
 * file; the status, the Content-Type and the file. The server runs the CRL script under its
 * own lock, so a test never races it on the CA's files by running the script itself.
 */
export async function fetchScriptCrl(
  s: ScriptCaServer,
  issuerId: string,
): Promise<{ status: number; type: string; file: string }> {
  const file = join(s.dir, `${issuerId}-${randomBytes(3).toString('hex')}.crl`);
  const r = await runCommand('curl', [
    '-sS', '--cacert', s.srv.caFile ?? '', '-o', file, '-w', '%{http_code} %{content_type}',
    `https://127.0.0.1:${s.srv.port}/.well-known/pki/crl/${issuerId}`,
  ]); // prettier-ignore
  if (r.code !== 0) throw new Error(`curl failed (${r.code}): ${r.stderr}`);
  const [status, type = ''] = r.stdout.trim().split(' ');
  return { status: Number(status), type, file };
}
