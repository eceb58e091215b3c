import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { apiCall, createIssuerAndProfile, type HttpsClient } from './support/https';
import { makeSelfSigned } from './support/openssl';
import { REPO_ROOT, cleanupAll, tempDir, type ServerProcess, startIssuingServer } from './support/server-process';
import { pollUntil, runCommand, tail, type CommandResult } from './support/util';

/**
 * The built certctl-cli against the built server, black box: every subcommand in table and
 * JSON format, through the environment and through the flags; API refusals (403, 404) end
 * in a non-zero exit with the server's message on stderr; a 200-certificate PEM bundle is
 * imported and a second import of it creates nothing.
 */

const CLI_MAIN = join(REPO_ROOT, 'dist', 'apps', 'cli', 'apps', 'cli', 'src', 'main.js');
const tag = randomBytes(3).toString('hex');
const ids = { issuer: `iss-cli-${tag}`, profile: `prof-cli-${tag}` };
const gated = `prof-cli-gated-${tag}`;

let srv: ServerProcess;
let api: HttpsClient;
let admin: string;
let operator: string;
let viewer: string;
let dir: string;

/** Runs the CLI with the connection in the environment (as an operator would configure it). */
async function cli(args: string[], key = admin, timeoutMs = 60_000): Promise<CommandResult> {
  return runCommand(process.execPath, [CLI_MAIN, ...args], {
    timeoutMs,
    env: { CERTCTL_SERVER_URL: srv.baseUrl, CERTCTL_API_KEY: key, CERTCTL_SERVER_CA_BUNDLE_PATH: srv.caFile! },
  });
}

/** A successful run's stdout (the failure message shows the whole run). */
async function ok(args: string[], key = admin): Promise<string> {
  const r = await cli(args, key);
  expect({ args, code: r.code, stderr: tail(r.stderr) }).toEqual({ args, code: 0, stderr: expect.any(String) });
  return r.stdout;
}

async function okJson<T>(args: string[], key = admin): Promise<T> {
  return JSON.parse(await ok(['--format', 'json', ...args], key)) as T;
}

async function key(name: string, role: string): Promise<string> {
  const r = await apiCall(api, admin, 'POST', '/api/v1/auth/keys', { name: `${name}-${tag}`, roles: [role] }, 201);
  return (r.json as { key: string }).key;
}

async function certificate(id: string, profile: string): Promise<void> {
  const body = { id, name: id, common_name: `${id}.cli.example.com`, issuer_id: ids.issuer, profile_id: profile };
  await apiCall(api, admin, 'POST', '/api/v1/certificates', body, 201);
}

async function agent(name: string): Promise<string> {
  const r = await apiCall(
    api,
    admin,
    'POST',
    '/api/v1/agents',
    { name: `${name}-${tag}`, hostname: `${name}.local` },
    201,
  );
  return (r.json as { id: string }).id;
}

const jobDone = (id: string): Promise<unknown> =>
  pollUntil(
    `job ${id} to complete`,
    async () => (await apiCall(api, admin, 'GET', `/api/v1/jobs/${id}`)).json as { status: string },
    (j) => j.status === 'Completed',
    { timeoutMs: 30_000 },
  );

beforeAll(async () => {
  // Server-side key generation: renewals complete without an agent, so the certificates can be revoked.
  ({ srv, api, admin } = await startIssuingServer('cli', { CERTCTL_KEYGEN_MODE: 'server' }));
  dir = await tempDir('certctl-e2e-cli-');
  await createIssuerAndProfile(api, admin, ids, `cli ${tag}`);
  const gatedProfile = {
    id: gated,
    name: gated,
    allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
    max_ttl_seconds: 7 * 86_400,
    requires_approval: true,
  };
  await apiCall(api, admin, 'POST', '/api/v1/profiles', gatedProfile, 201);
  [operator, viewer] = [await key('operator', 'operator'), await key('viewer', 'viewer')];
}, 90_000);

afterAll(cleanupAll, 60_000);

it('version and status: table and JSON, connection from flags as well as from the environment', async () => {
  const table = await ok(['version']);
  expect(table).toMatch(/^cli\s+\d+\.\d+\.\d+/m);
  expect(table).toMatch(/^server\s+\S+/m);
  const json = await okJson<{ cli: string; server: { version: string; api: string } }>(['version']);
  expect(json.server.version).toEqual(expect.any(String));
  expect(json.cli).toMatch(/^\d+\.\d+\.\d+/);

  // Flags only, nothing in the environment.
  const flags = await runCommand(process.execPath, [
    CLI_MAIN, '--server', srv.baseUrl, '--api-key', admin, '--ca-bundle', srv.caFile!, '--format', 'json', 'status',
  ]); // prettier-ignore
  expect({ code: flags.code, stderr: flags.stderr }).toEqual({ code: 0, stderr: '' });
  const status = JSON.parse(flags.stdout) as { health: { status: string }; summary: { total_certificates: number } };
  expect(status.health.status).toEqual(expect.any(String));
  expect(status.summary.total_certificates).toEqual(expect.any(Number));
  const statusTable = await ok(['status']);
  expect(statusTable).toMatch(/^health\s+\S+/m);
  expect(statusTable).toMatch(/^total_certificates\s+\d+/m);

  // Without the CA bundle the server's private TLS CA is not trusted: a transport error, exit 1.
  const untrusted = await runCommand(process.execPath, [
    CLI_MAIN,
    '--server',
    srv.baseUrl,
    '--api-key',
    admin,
    'status',
  ]);
  expect(untrusted.code).toBe(1);
  expect(untrusted.stderr).toMatch(/^error: /);
  expect(untrusted.stdout).toBe('');
});

it('certs list|get|renew|revoke|bulk-revoke and jobs list|get in both formats', async () => {
  const [c1, c2, c3, c4] = [1, 2, 3, 4].map((i) => `mc-cli-${i}-${tag}`);
  for (const c of [c1, c2, c3, c4]) await certificate(c, ids.profile);

  const list = await ok(['certs', 'list', '--per-page', '200']);
  expect(list.split('\n')[0]).toMatch(/^ID\s+NAME\s+COMMON_NAME\s+STATUS/);
  for (const c of [c1, c2, c3, c4]) expect(list).toMatch(new RegExp(`^${c}\\s`, 'm'));
  const listJson = await okJson<{ data: { id: string }[]; total: number }>(['certs', 'list', '--per-page', '200']);
  expect(listJson.data.map((d) => d.id)).toEqual(expect.arrayContaining([c1, c2, c3, c4]));

  expect(await ok(['certs', 'get', c1])).toMatch(new RegExp(`^common_name\\s+${c1}\\.cli\\.example\\.com$`, 'm'));
  expect(await okJson<{ id: string; common_name: string }>(['certs', 'get', c2])).toMatchObject({
    id: c2,
    common_name: `${c2}.cli.example.com`,
  });

  // Renew: one in each format; each prints the job it queued.
  const renewTable = await ok(['certs', 'renew', c1]);
  const job1 = /^id\s+(\S+)$/m.exec(renewTable)?.[1];
  expect(renewTable).toMatch(new RegExp(`^certificate_id\\s+${c1}$`, 'm'));
  const job2 = (await okJson<{ id: string; certificate_id: string }>(['certs', 'renew', c2])).id;
  const others = await Promise.all(
    [c3, c4].map(
      async (c) => (await apiCall(api, admin, 'POST', `/api/v1/certificates/${c}/renew`, undefined, 202)).json,
    ),
  );
  for (const j of [job1!, job2, ...others.map((o) => (o as { id: string }).id)]) await jobDone(j);

  const jobs = await ok(['jobs', 'list', '--certificate', c1]);
  expect(jobs.split('\n')[0]).toMatch(/^ID\s+TYPE\s+STATUS/);
  expect(jobs).toMatch(new RegExp(`^${job1}\\s+\\S+\\s+Completed\\s+${c1}`, 'm'));
  const jobsJson = await okJson<{ data: { id: string; status: string }[] }>(['jobs', 'list', '--certificate', c2]);
  expect(jobsJson.data.find((j) => j.id === job2)?.status).toBe('Completed');
  expect(await ok(['jobs', 'get', job1!])).toMatch(/^status\s+Completed$/m);
  expect(await okJson<{ id: string; certificate_id: string }>(['jobs', 'get', job2])).toMatchObject({
    id: job2,
    certificate_id: c2,
  });

  expect(await ok(['certs', 'revoke', c1, '--reason', 'keyCompromise'])).toMatch(/^status\s+Revoked$/m);
  expect(await okJson<{ status: string }>(['certs', 'revoke', c2, '--reason', 'superseded'])).toMatchObject({
    status: 'Revoked',
  });
  expect(await ok(['certs', 'bulk-revoke', '--ids', c3])).toMatch(/^succeeded\s+1$/m);
  expect(
    await okJson<object>(['certs', 'bulk-revoke', '--ids', `${c4},${c1}`, '--reason', 'superseded']),
  ).toMatchObject({ succeeded: 1, failed: 0 });
  const after = await okJson<{ status: string }>(['certs', 'get', c4]);
  expect(after.status).toBe('Revoked');

  // An empty selector is refused by the CLI itself, before any request.
  const empty = await cli(['certs', 'bulk-revoke']);
  expect(empty.code).toBe(1);
  expect(empty.stderr).toContain('needs at least one of --ids');
}, 120_000);

it('jobs cancel and approvals list|approve|reject in both formats', async () => {
  const certs = [1, 2, 3, 4, 5, 6].map((i) => `mc-cli-gated-${i}-${tag}`);
  const jobs: string[] = [];
  for (const c of certs) {
    await certificate(c, gated);
    // The operator asks, so the admin may decide (two-person integrity).
    const r = await apiCall(api, operator, 'POST', `/api/v1/certificates/${c}/renew`, undefined, 202);
    jobs.push((r.json as { id: string; status: string }).id);
  }
  const pending = await okJson<{ data: { id: string; job_id: string; certificate_id: string }[] }>([
    'approvals', 'list', '--state', 'pending', '--per-page', '100',
  ]); // prettier-ignore
  const requestOf = (job: string): string => pending.data.find((a) => a.job_id === job)!.id;
  for (const j of jobs) expect(requestOf(j)).toEqual(expect.any(String));
  const table = await ok(['approvals', 'list', '--state', 'pending', '--per-page', '100']);
  expect(table.split('\n')[0]).toMatch(/^ID\s+KIND\s+STATE\s+CERTIFICATE_ID/);
  expect(table).toMatch(new RegExp(`^${requestOf(jobs[0])}\\s+\\S+\\s+pending\\s+${certs[0]}`, 'm'));

  expect(await ok(['approvals', 'approve', requestOf(jobs[0]), '--note', 'ticket 1'])).toMatch(/^state\s+approved$/m);
  expect(await okJson<{ state: string; note: string }>(['approvals', 'approve', requestOf(jobs[1])])).toMatchObject({
    state: 'approved',
  });
  expect(await ok(['approvals', 'reject', requestOf(jobs[2]), '--note', 'no'])).toMatch(/^state\s+rejected$/m);
  expect(await okJson<{ state: string }>(['approvals', 'reject', requestOf(jobs[3])])).toMatchObject({
    state: 'rejected',
  });

  expect(await ok(['jobs', 'cancel', jobs[4], '--reason', 'not needed'])).toMatch(/^status\s+Cancelled$/m);
  expect(await okJson<{ id: string; status: string }>(['jobs', 'cancel', jobs[5]])).toMatchObject({
    id: jobs[5],
    status: 'Cancelled',
  });
}, 120_000);

it('agents list|get|retire in both formats', async () => {
  const [a1, a2] = [await agent('cli-a1'), await agent('cli-a2')];
  const list = await ok(['agents', 'list', '--per-page', '100']);
  expect(list.split('\n')[0]).toMatch(/^ID\s+NAME\s+HOSTNAME\s+STATUS/);
  expect(list).toMatch(new RegExp(`^${a1}\\s+cli-a1-${tag}\\s+cli-a1\\.local`, 'm'));
  const listJson = await okJson<{ data: { id: string }[] }>(['agents', 'list', '--per-page', '100']);
  expect(listJson.data.map((a) => a.id)).toEqual(expect.arrayContaining([a1, a2]));
  expect(await ok(['agents', 'get', a1])).toMatch(/^hostname\s+cli-a1\.local$/m);
  expect(await okJson<{ id: string }>(['agents', 'get', a2])).toMatchObject({ id: a2, hostname: 'cli-a2.local' });

  const retired = await ok(['agents', 'retire', a1, '--reason', 'decommissioned']);
  expect(retired).toMatch(/^cascade\s+false$/m);
  expect(retired).toMatch(new RegExp(`^agent\\s+\\{.*"id":"${a1}"`, 'm'));
  const retiredJson = await okJson<{ agent: { id: string; retired_at: string | null } }>(['agents', 'retire', a2]);
  expect(retiredJson.agent).toMatchObject({ id: a2, retired_at: expect.any(String) });
});

it("a refusal (403, 404) exits non-zero with the server's message on stderr", async () => {
  const target = `mc-cli-403-${tag}`;
  await certificate(target, ids.profile);
  const direct = await apiCall(api, viewer, 'POST', `/api/v1/certificates/${target}/revoke`, {}, 403);
  const message = (direct.json as { message: string }).message;
  expect(message.length).toBeGreaterThan(0);

  for (const format of ['table', 'json']) {
    const r = await cli(['--format', format, 'certs', 'revoke', target], viewer);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`error: 403 Forbidden: ${message}`);
  }
  // Reading is allowed for the viewer, so the same key works where its role permits.
  expect(await okJson<{ id: string }>(['certs', 'get', target], viewer)).toMatchObject({ id: target });

  const missing = await cli(['certs', 'get', `mc-missing-${tag}`]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/^error: 404 Not Found: .*mc-missing-/m);
});

it('import of a 200-certificate PEM bundle creates 200, shows progress, and a rerun skips all 200', async () => {
  const importer = await agent('cli-import');
  // Ten openssl processes at a time: enough to be quick, few enough for a small machine.
  const made = [];
  for (let i = 0; i < 200; i += 10) {
    const batch = Array.from({ length: 10 }, (_, j) => makeSelfSigned(dir, `imp${i + j}-${tag}.cli.example.com`));
    made.push(...(await Promise.all(batch)));
  }
  const pems = await Promise.all(made.map((m) => readFile(m.cert, 'utf8')));
  const bundle = join(dir, 'bundle.pem');
  await writeFile(bundle, pems.join(''));

  const first = await cli(['--format', 'json', 'import', '--agent', importer, bundle], admin, 120_000);
  expect({ code: first.code, stderr: tail(first.stderr) }).toEqual({ code: 0, stderr: expect.any(String) });
  expect(first.stderr).toContain('importing: 200/200');
  const s1 = JSON.parse(first.stdout) as { created: number; skipped: number; failed: number; items: object[] };
  expect({ created: s1.created, skipped: s1.skipped, failed: s1.failed }).toEqual({
    created: 200,
    skipped: 0,
    failed: 0,
  });

  const discovered = await apiCall(api, admin, 'GET', `/api/v1/discovered-certificates?agent_id=${importer}&per_page=500`, undefined, 200); // prettier-ignore
  const rows = (discovered.json as { data: { status: string; managed_certificate_id: string | null }[] }).data;
  expect(rows).toHaveLength(200);
  expect(rows.every((r) => r.status === 'Managed' && r.managed_certificate_id)).toBe(true);
  const managed = await apiCall(
    api,
    admin,
    'GET',
    `/api/v1/certificates/${rows[0].managed_certificate_id}`,
    undefined,
    200,
  );
  expect((managed.json as { common_name: string }).common_name).toMatch(/^imp\d+-/);

  const second = await cli(['import', '--agent', importer, bundle], admin, 120_000);
  expect({ code: second.code, stderr: tail(second.stderr) }).toEqual({ code: 0, stderr: expect.any(String) });
  expect(second.stdout).toMatch(/^created\s+0$/m);
  expect(second.stdout).toMatch(/^skipped\s+200$/m);
  expect(second.stdout).toMatch(/^failed\s+0$/m);
  const again = await apiCall(api, admin, 'GET', `/api/v1/discovered-certificates?agent_id=${importer}&per_page=500`, undefined, 200); // prettier-ignore
  expect((again.json as { total: number }).total).toBe(200);
}, 180_000);
