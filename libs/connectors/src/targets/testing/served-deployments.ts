import { appendFileSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { TargetType } from '@certctl/domain';
import type { ConfigObject } from '../../config/spec';
import { targetConnector } from '../registry';
import { DeployError, type DeployMaterial, type DeployResult, type TargetConnector } from '../target-port';
import { certificateFingerprint, fetchServedCertificate } from '../verify-endpoint';
import { eventually, makeCa, makeLeaf } from './target-fixtures';

/** A real server on a loopback port, started from files in a temporary directory. */
export interface ServerUnderTest {
  type: TargetType;
  dir: string;
  port: number;
  /** The target configuration (paths in `dir`, validate/reload argv for this instance). */
  config: ConfigObject;
  /** The files the connector writes, and which of them holds the key (its mode is checked). */
  files: string[];
  keyFile: string;
  /** The server's own configuration file, broken and repaired by the rollback test. */
  serverConfigFile: string;
  /** A line that makes the server's configuration test fail. */
  brokenConfigLine: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const served = async (port: number) =>
  (await fetchServedCertificate({ host: '127.0.0.1', port, servername: 'localhost' }, { timeoutMs: 3000 }))
    .fingerprintSha256;

/**
 * Waits until the server serves this certificate steadily: a graceful reload lets old
 * workers answer for a moment, so three handshakes in a row must see it.
 */
export async function expectServed(port: number, m: DeployMaterial): Promise<void> {
  const want = certificateFingerprint(m.certPem);
  let streak = 0;
  await eventually(async () => {
    streak = (await served(port)) === want ? streak + 1 : 0;
    if (streak < 3) await new Promise((r) => setTimeout(r, 100));
    return streak >= 3 ? true : undefined;
  }, 20_000);
}

/** The server keeps serving this certificate (checked a few times over a second). */
async function expectStillServed(port: number, m: DeployMaterial): Promise<void> {
  const want = certificateFingerprint(m.certPem);
  for (let i = 0; i < 5; i++) {
    expect(await served(port)).toBe(want);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface FileState {
  bytes: string;
  mode: number;
  mtimeMs: number;
}
const fileState = (files: string[]): FileState[] =>
  files.map((f) => {
    const st = statSync(f);
    return { bytes: readFileSync(f, 'utf8'), mode: st.mode & 0o7777, mtimeMs: st.mtimeMs };
  });

async function deployError(p: Promise<DeployResult>): Promise<DeployError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DeployError)) throw new Error(`expected a DeployError, got ${String(err)}`);
  return err;
}

/**
 * The deployment scenario every file-based server goes through: a first certificate is
 * served, the same bytes change nothing, a second is served, a failing config test and a
 * failing reload roll back while the server keeps serving the old certificate, and a key
 * that does not match is refused before anything is written.
 */
export function describeServedDeployments(name: string, setup: () => Promise<ServerUnderTest>): void {
  describe(`${name}: deployments served by a real server`, () => {
    let s: ServerUnderTest | undefined;
    let connector: TargetConnector;
    const pki: Record<string, DeployMaterial> = {};
    const server = () => {
      if (!s) throw new Error('server setup failed');
      return s;
    };
    const ctx = (config: ConfigObject = server().config) => ({
      targetId: 'target-1',
      jobId: 'job-1',
      config,
      log: () => undefined,
    });

    beforeAll(async () => {
      s = await setup();
      const c = targetConnector(s.type);
      if (!c) throw new Error(`no connector for ${s.type}`);
      connector = c;
      makeCa(s.dir);
      for (const leaf of ['boot', 'one', 'two', 'three']) pki[leaf] = makeLeaf(s.dir, leaf);
      // The server needs files to start: the connector writes them, with no-op commands.
      await connector.deploy(pki.boot, ctx({ ...s.config, validate_command: ['true'], reload_command: ['true'] }));
      await s.start();
      await expectServed(s.port, pki.boot);
    });
    afterAll(async () => {
      await s?.stop();
    });

    it('deploys a certificate, validated and reloaded: the TLS handshake sees its fingerprint', async () => {
      const r = await connector.deploy(pki.one, ctx());
      expect(r).toMatchObject({ changed: true, validated: true, reloaded: true });
      expect(r.written).toContain(server().files[0]);
      await expectServed(server().port, pki.one);
      // An operator's mode on the key file is kept by later deployments.
      chmodSync(server().keyFile, 0o640);
    });

    it('the same certificate again changes nothing and reloads nothing', async () => {
      const before = fileState(server().files);
      const r = await connector.deploy(pki.one, ctx());
      expect(r).toMatchObject({ changed: false, written: [], validated: false, reloaded: false });
      expect(fileState(server().files)).toEqual(before);
      await expectStillServed(server().port, pki.one);
    });

    it('a second certificate is served, and the key file keeps its mode', async () => {
      const r = await connector.deploy(pki.two, ctx());
      expect(r).toMatchObject({ changed: true, validated: true, reloaded: true });
      await expectServed(server().port, pki.two);
      expect(statSync(server().keyFile).mode & 0o7777).toBe(0o640);
    });

    it('a failing configuration test rolls back: old bytes and modes, old certificate still served', async () => {
      const before = fileState(server().files).map(({ bytes, mode }) => ({ bytes, mode }));
      const original = readFileSync(server().serverConfigFile, 'utf8');
      appendFileSync(server().serverConfigFile, `\n${server().brokenConfigLine}\n`);
      try {
        const err = await deployError(connector.deploy(pki.three, ctx()));
        expect(err).toMatchObject({ step: 'validate', rolledBack: true });
        expect(err.message).toMatch(/; restored [1-9] file\(s\)$/);
      } finally {
        writeFileSync(server().serverConfigFile, original);
      }
      expect(fileState(server().files).map(({ bytes, mode }) => ({ bytes, mode }))).toEqual(before);
      await expectStillServed(server().port, pki.two);
    });

    it('a failing reload rolls back and reloads the old files', async () => {
      const before = fileState(server().files).map(({ bytes, mode }) => ({ bytes, mode }));
      const marker = join(server().dir, 'failed-reloads');
      const reload = ['sh', '-c', 'echo reload >> "$1"; exit 1', 'sh', marker];
      const err = await deployError(connector.deploy(pki.three, ctx({ ...server().config, reload_command: reload })));
      expect(err).toMatchObject({ step: 'reload', rolledBack: true });
      expect(readFileSync(marker, 'utf8')).toBe('reload\nreload\n');
      expect(fileState(server().files).map(({ bytes, mode }) => ({ bytes, mode }))).toEqual(before);
      await expectStillServed(server().port, pki.two);
    });

    it('a key that does not belong to the certificate is refused before anything is written', async () => {
      const before = fileState(server().files);
      const err = await deployError(connector.deploy({ ...pki.three, keyPem: pki.two.keyPem }, ctx()));
      expect(err).toMatchObject({ step: 'validate', rolledBack: true });
      expect(err.message).toContain('does not belong to the certificate');
      expect(fileState(server().files)).toEqual(before);
      await expectStillServed(server().port, pki.two);
    });

    it('after the failures, the third certificate deploys and is served', async () => {
      await connector.deploy(pki.three, ctx());
      await expectServed(server().port, pki.three);
    });
  });
}
