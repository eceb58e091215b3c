import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataDirEncryptionKey, KEY_FILE_NAME } from './key-file';

describe('dataDirEncryptionKey', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'certctl-keyfile-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a 0600 key once and returns the same key afterwards', async () => {
    const first = await dataDirEncryptionKey(join(dir, 'data'));
    expect(first.created).toBe(true);
    expect(Buffer.byteLength(first.key)).toBeGreaterThanOrEqual(32);
    expect((await stat(first.path)).mode & 0o777).toBe(0o600);
    const again = await dataDirEncryptionKey(join(dir, 'data'));
    expect(again).toEqual({ ...first, created: false });
  });

  it('agrees on one key when two starts race', async () => {
    const [a, b] = await Promise.all([dataDirEncryptionKey(dir), dataDirEncryptionKey(dir)]);
    expect(a.key).toBe(b.key);
    expect([a.created, b.created].filter(Boolean)).toHaveLength(1);
  });

  it('refuses a key file other users can read, and one that is too short', async () => {
    const path = join(dir, KEY_FILE_NAME);
    await writeFile(path, 'x'.repeat(40), { mode: 0o644 });
    await chmod(path, 0o644);
    await expect(dataDirEncryptionKey(dir)).rejects.toThrow(/readable by other users/);
    await chmod(path, 0o600);
    await writeFile(path, 'short');
    await expect(dataDirEncryptionKey(dir)).rejects.toThrow(/fewer than 32 bytes/);
    expect(await readFile(path, 'utf8')).toBe('short');
  });
});
