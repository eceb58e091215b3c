import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haproxyRuntimeCommand } from './haproxy';
import { targetConnector } from './registry';
import { DeployError, type TargetConnector } from './target-port';
import { describeServedDeployments, expectServed } from './testing/served-deployments';
import { freePort, makeCa, makeLeaf, startDaemon, stopByPidFile } from './testing/target-fixtures';

/** A master-worker HAProxy serving `pemPath` on 127.0.0.1, with an admin stats socket. */
function haproxyConfig(dir: string, port: number, pemPath: string): string {
  return `global
  stats socket ${join(dir, 'admin.sock')} mode 600 level admin
defaults
  mode http
  timeout connect 5s
  timeout client 5s
  timeout server 5s
frontend fe
  bind 127.0.0.1:${port} ssl crt ${pemPath}
  http-request return status 200 content-type text/plain string ok
`;
}

/** Master-worker mode: the master's pid stays, `kill -USR2 <master>` reloads (what systemctl reload does). */
async function startHaproxy(cfg: string, pidFile: string): Promise<number> {
  await startDaemon(['haproxy', '-W', '-D', '-f', cfg, '-p', pidFile]);
  return Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
}

describeServedDeployments('HAProxy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'certctl-haproxy-'));
  const port = await freePort();
  const pem = join(dir, 'site.pem');
  const cfg = join(dir, 'haproxy.cfg');
  const pidFile = join(dir, 'haproxy.pid');
  writeFileSync(cfg, haproxyConfig(dir, port, pem));
  let master = 0;
  return {
    type: 'HAProxy',
    dir,
    port,
    get config() {
      return {
        pem_path: pem,
        validate_command: ['haproxy', '-c', '-q', '-f', cfg],
        reload_command: ['kill', '-USR2', String(master)],
      };
    },
    files: [pem],
    keyFile: pem,
    serverConfigFile: cfg,
    brokenConfigLine: '  not_a_haproxy_keyword on',
    start: async () => {
      master = await startHaproxy(cfg, pidFile);
    },
    stop: async () => {
      await stopByPidFile(pidFile);
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('HAProxy: hot update over the runtime API', () => {
  const dir = mkdtempSync(join(tmpdir(), 'certctl-haproxy-rt-'));
  const pem = join(dir, 'site.pem');
  const socket = join(dir, 'admin.sock');
  const pidFile = join(dir, 'haproxy.pid');
  let port = 0;
  let connector: TargetConnector;
  const workerPid = async () => /Pid: (\d+)/.exec(await haproxyRuntimeCommand(socket, 'show info'))?.[1];

  beforeAll(async () => {
    const c = targetConnector('HAProxy');
    if (!c) throw new Error('no HAProxy connector');
    connector = c;
    makeCa(dir);
    port = await freePort();
    writeFileSync(join(dir, 'haproxy.cfg'), haproxyConfig(dir, port, pem));
    await connector.deploy(makeLeaf(dir, 'boot'), {
      targetId: 't',
      jobId: 'j',
      config: { pem_path: pem, validate_command: ['true'], reload_command: ['true'] },
    });
    await startHaproxy(join(dir, 'haproxy.cfg'), pidFile);
  });
  afterAll(async () => {
    await stopByPidFile(pidFile);
    rmSync(dir, { recursive: true, force: true });
  });

  it('replaces the certificate in the running worker, without a reload', async () => {
    const before = await workerPid();
    expect(before).toMatch(/^\d+$/);
    const leaf = makeLeaf(dir, 'hot');
    const config = {
      pem_path: pem,
      validate_command: ['haproxy', '-c', '-q', '-f', join(dir, 'haproxy.cfg')],
      runtime_api_socket: socket,
    };
    const r = await connector.deploy(leaf, { targetId: 't', jobId: 'j', config });
    expect(r).toMatchObject({ changed: true, validated: true, reloaded: true });
    await expectServed(port, leaf);
    expect(await workerPid()).toBe(before);
  });

  it('a certificate HAProxy does not serve fails the update and is removed again', async () => {
    const other = join(dir, 'unknown.pem');
    const config = { pem_path: other, validate_command: ['true'], runtime_api_socket: socket };
    const err = await connector
      .deploy(makeLeaf(dir, 'stray'), { targetId: 't', jobId: 'j', config })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeployError);
    expect(err).toMatchObject({ step: 'reload', rolledBack: true });
    expect((err as Error).message).toContain('set ssl cert');
    expect(existsSync(other)).toBe(false);
  });
});
