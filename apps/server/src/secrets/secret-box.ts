import { createCipheriv, createDecipheriv, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/** Blob layout: version(1) || salt(16) || nonce(12) || ciphertext || tag(16). */
export const SECRET_BOX_VERSION = 0x01;
export const PBKDF2_ITERATIONS = 600_000;
const SALT_LEN = 16;
const NONCE_LEN = 12;
const TAG_LEN = 16;
const HEADER_LEN = 1 + SALT_LEN + NONCE_LEN;
export const MIN_PASSPHRASE_BYTES = 32;

export class SecretKeyMissingError extends Error {
  constructor(what: string) {
    super(
      `${what} needs CERTCTL_CONFIG_ENCRYPTION_KEY (at least ${MIN_PASSPHRASE_BYTES} bytes) to seal secrets at rest`,
    );
    this.name = 'SecretKeyMissingError';
  }
}

export class SecretDecryptError extends Error {
  constructor(
    context: string,
    readonly reason: string,
  ) {
    super(`cannot decrypt the sealed secrets of ${context}: ${reason}`);
    this.name = 'SecretDecryptError';
  }
}

/**
 * AES-256-GCM sealing of configuration secrets. Every blob has its own random salt, so the
 * PBKDF2-SHA256 key differs per blob; the row it belongs to (`issuers:iss-x`) is bound as
 * associated data, so a blob copied onto another row fails to open.
 */
export class SecretBox {
  /** Derived keys by salt: PBKDF2 at 600k rounds is deliberately slow; reads repeat. */
  private readonly keys = new Map<string, Buffer>();

  constructor(private readonly passphrase: string | undefined) {}

  get enabled(): boolean {
    return this.passphrase !== undefined;
  }

  async seal(secret: Record<string, unknown>, context: string): Promise<Buffer> {
    if (!this.passphrase) throw new SecretKeyMissingError(context);
    const salt = randomBytes(SALT_LEN);
    const nonce = randomBytes(NONCE_LEN);
    const key = await this.derive(salt);
    const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_LEN });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(JSON.stringify(secret), 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([SECRET_BOX_VERSION]), salt, nonce, body, cipher.getAuthTag()]);
  }

  async open(blob: Buffer, context: string): Promise<Record<string, unknown>> {
    if (!this.passphrase) throw new SecretKeyMissingError(context);
    if (blob.length < HEADER_LEN + TAG_LEN || blob[0] !== SECRET_BOX_VERSION) {
      throw new SecretDecryptError(context, `unknown blob format (version byte ${blob[0] ?? 'missing'})`);
    }
    const salt = blob.subarray(1, 1 + SALT_LEN);
    const nonce = blob.subarray(1 + SALT_LEN, HEADER_LEN);
    const body = blob.subarray(HEADER_LEN, blob.length - TAG_LEN);
    const tag = blob.subarray(blob.length - TAG_LEN);
    const decipher = createDecipheriv('aes-256-gcm', await this.derive(salt), nonce, { authTagLength: TAG_LEN });
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    let plain: string;
    try {
      plain = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretDecryptError(context, 'authentication failed (wrong CERTCTL_CONFIG_ENCRYPTION_KEY?)');
    }
    return JSON.parse(plain) as Record<string, unknown>;
  }

  private async derive(salt: Buffer): Promise<Buffer> {
    const id = salt.toString('hex');
    const cached = this.keys.get(id);
    if (cached) return cached;
    const key = await pbkdf2Async(this.passphrase!, salt, PBKDF2_ITERATIONS, 32, 'sha256');
    if (this.keys.size >= 4096) this.keys.delete(this.keys.keys().next().value!);
    this.keys.set(id, key);
    return key;
  }
}
