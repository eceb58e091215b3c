import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyStore } from './key-store';

const root = mkdtempSync(join(tmpdir(), 'certctl-agent-keys-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A key and a self-signed certificate for it, made by the openssl CLI. */
function keyAndCert(name: string): { key: string; cert: string } {
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '1', '-subj', `/CN=${name}`], { cwd: root, encoding: 'utf8' }); // prettier-ignore
  if (r.status !== 0) throw new Error(r.stderr);
  return {
    key: readFileSync(join(root, `${name}.key`), 'utf8'),
    cert: readFileSync(join(root, `${name}.pem`), 'utf8'),
  };
}

const mode = (p: string) => statSync(p).mode & 0o777;

describe('KeyStore', () => {
  it('creates the directory 0700 (tightening an existing one) and writes keys 0600, atomically', async () => {
    const dir = join(root, 'a', 'keys');
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
    const store = new KeyStore(dir);
    const { key } = keyAndCert('one');
    const p = await store.writePending('mc-one', key);
    expect(mode(dir)).toBe(0o700);
    expect(p).toBe(join(dir, 'mc-one.key.pending'));
    expect(mode(p)).toBe(0o600);
    expect(readFileSync(p, 'utf8')).toBe(key);
    expect(readdirSync(dir)).toEqual(['mc-one.key.pending']); // no temp file left behind
  });

  it('promotes pending to current, keeps the previous key, and finds keys by the certificate public key', async () => {
    const store = new KeyStore(join(root, 'b'));
    const v1 = keyAndCert('v1');
    const v2 = keyAndCert('v2');
    const other = keyAndCert('other');

    await store.writePending('mc-web', v1.key);
    await store.promotePending('mc-web');
    expect(readdirSync(store.dir).sort()).toEqual(['mc-web.key']);
    expect(mode(store.path('mc-web'))).toBe(0o600);

    await store.writePending('mc-web', v2.key);
    expect(await store.keyFor('mc-web', v2.cert)).toMatchObject({ slot: 'pending', pem: v2.key });
    await store.promotePending('mc-web');
    expect(readdirSync(store.dir).sort()).toEqual(['mc-web.key', 'mc-web.key.prev']);
    expect(await store.keyFor('mc-web', v2.cert)).toMatchObject({ slot: 'current', pem: v2.key });
    expect(await store.keyFor('mc-web', v1.cert)).toMatchObject({ slot: 'previous', pem: v1.key });
    expect(await store.keyFor('mc-web', other.cert)).toBeUndefined();

    await store.discard('mc-web', 'previous');
    expect(readdirSync(store.dir)).toEqual(['mc-web.key']);
    expect(await store.keyFor('mc-web', v1.cert)).toBeUndefined();
  });

  it('refuses certificate ids that would escape the directory', () => {
    const store = new KeyStore(join(root, 'c'));
    for (const id of ['../etc/passwd', '.hidden', 'a/b', ''])
      expect(() => store.path(id)).toThrow(/cannot name a key file/);
  });
});
