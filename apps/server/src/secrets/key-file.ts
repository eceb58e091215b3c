import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const KEY_FILE_NAME = 'config-encryption.key';

export class KeyFileError extends Error {}

/**
 * Single-node quick start: when CERTCTL_CONFIG_ENCRYPTION_KEY is unset, the server keeps a
 * generated passphrase in `<data dir>/config-encryption.key` (mode 0600, created once,
 * exclusively, so two processes starting together agree on one). The key then lives apart
 * from the database it protects, like the self-signed TLS bundle beside it. Several replicas
 * must share one key: set CERTCTL_CONFIG_ENCRYPTION_KEY for them (the Helm chart does).
 */
export async function dataDirEncryptionKey(dataDir: string): Promise<{ key: string; path: string; created: boolean }> {
  const path = join(dataDir, KEY_FILE_NAME);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  let created = false;
  // Written whole under a temporary name, then linked into place: link() fails when the
  // name exists, so a racing start never reads a half-written key and exactly one wins.
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, `${randomBytes(48).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    await link(tmp, path);
    created = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new KeyFileError(`cannot create ${path}: ${(e as Error).message}`);
    }
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  const st = await stat(path);
  if (!st.isFile()) throw new KeyFileError(`${path} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new KeyFileError(`${path} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  }
  const key = (await readFile(path, 'utf8')).trim();
  if (Buffer.byteLength(key, 'utf8') < 32) throw new KeyFileError(`${path} holds fewer than 32 bytes`);
  return { key, path, created };
}
