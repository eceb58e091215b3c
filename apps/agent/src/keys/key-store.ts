import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ensurePrivateDir, renameDurable, writeFileAtomic } from './atomic-file';

/** Which file of a certificate's keys: the one in use, a fresh one awaiting its certificate, the previous one. */
export type KeySlot = 'current' | 'pending' | 'previous';

const SUFFIX: Record<KeySlot, string> = { current: '.key', pending: '.key.pending', previous: '.key.prev' };
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface StoredKey {
  slot: KeySlot;
  path: string;
  pem: string;
}

/**
 * Private keys on the agent's disk, one set per certificate in a 0700 directory, every file
 * 0600 and written atomically:
 * - `<cert>.key.pending`: generated for a CSR, until the server has issued its certificate
 *   (at once for most CAs; for asynchronous CAs when the first deployment of it arrives);
 * - `<cert>.key`: the key of the newest issued certificate;
 * - `<cert>.key.prev`: the key before it, kept until the new certificate is deployed, so a
 *   deployment of the older version (or a failed rollout) still finds its key.
 * Deployments pick the file whose public key matches the certificate, never by name alone.
 */
export class KeyStore {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await ensurePrivateDir(this.dir, 0o700);
  }

  path(certificateId: string, slot: KeySlot = 'current'): string {
    if (!SAFE_ID.test(certificateId)) {
      throw new Error(`certificate id ${JSON.stringify(certificateId)} cannot name a key file`);
    }
    return join(this.dir, certificateId + SUFFIX[slot]);
  }

  async writePending(certificateId: string, keyPem: string): Promise<string> {
    await this.init();
    const p = this.path(certificateId, 'pending');
    await writeFileAtomic(p, keyPem, 0o600);
    return p;
  }

  /** The pending key becomes current; the current one (if any) becomes previous. */
  async promotePending(certificateId: string): Promise<void> {
    const pending = this.path(certificateId, 'pending');
    const current = this.path(certificateId, 'current');
    if ((await this.read(pending)) === undefined) return;
    if ((await this.read(current)) !== undefined) await renameDurable(current, this.path(certificateId, 'previous'));
    await renameDurable(pending, current);
  }

  async discard(certificateId: string, slot: KeySlot): Promise<void> {
    await rm(this.path(certificateId, slot), { force: true });
  }

  /**
   * The key to deploy with the certificate, or undefined. A pending key that the certificate
   * carries is promoted first: the certificate now exists (an asynchronous CA issued it after
   * the CSR was answered AwaitingIssuer), so its key becomes current and the old one previous.
   */
  async keyForDeployment(certificateId: string, certPem: string): Promise<StoredKey | undefined> {
    const key = await this.keyFor(certificateId, certPem);
    if (key?.slot !== 'pending') return key;
    await this.promotePending(certificateId);
    return { slot: 'current', path: this.path(certificateId, 'current'), pem: key.pem };
  }

  /** The stored key whose public half is the certificate's, or undefined. */
  async keyFor(certificateId: string, certPem: string): Promise<StoredKey | undefined> {
    const want = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
    for (const slot of ['current', 'pending', 'previous'] as const) {
      const path = this.path(certificateId, slot);
      const pem = await this.read(path);
      if (pem === undefined) continue;
      try {
        const spki = createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' });
        if (spki.equals(want)) return { slot, path, pem };
      } catch {
        // an unreadable file is not this certificate's key
      }
    }
    return undefined;
  }

  private async read(path: string): Promise<string | undefined> {
    try {
      return await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }
}
