import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/config.schema';
import { resolveServerTls } from './server-tls';

describe('resolveServerTls (self-signed mode)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'certctl-tls-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = (host = '127.0.0.1') => loadConfig({ CERTCTL_DATA_DIR: dir, CERTCTL_SERVER_HOST: host });

  it('generates once, keeps keys private, then reuses', async () => {
    const first = await resolveServerTls(cfg());
    expect(first.source).toBe('generated');
    expect(statSync(join(dir, 'tls', 'server.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'tls', 'ca.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'tls')).mode & 0o777).toBe(0o700);
    const again = await resolveServerTls(cfg());
    expect(again.source).toBe('reused');
    expect(again.cert).toBe(first.cert);
  });

  it('re-issues the server certificate under the same CA when the names change', async () => {
    const caBefore = readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8');
    const moved = await resolveServerTls(cfg('127.0.0.2'));
    expect(moved.source).toBe('reissued');
    expect(readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8')).toBe(caBefore);
    const leaf = new X509Certificate(moved.cert);
    expect(leaf.checkIP('127.0.0.2')).toBe('127.0.0.2');
    expect(leaf.verify(new X509Certificate(caBefore).publicKey)).toBe(true);
  });

  it('re-issues when the server certificate is missing', async () => {
    rmSync(join(dir, 'tls', 'server.pem'));
    expect((await resolveServerTls(cfg('127.0.0.2'))).source).toBe('reissued');
  });

  it('fails closed on unusable configured files, naming the variables', async () => {
    const bad = loadConfig({
      CERTCTL_SERVER_TLS_CERT_PATH: join(dir, 'tls', 'ca.pem'),
      CERTCTL_SERVER_TLS_KEY_PATH: join(dir, 'tls', 'server.key'),
    });
    await expect(resolveServerTls(bad)).rejects.toThrow(/CERTCTL_SERVER_TLS_CERT_PATH.*does not match/);
  });
});
