import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TargetType } from '@certctl/domain';
import { toPkcs12 } from '@certctl/pki';
import type { ConfigObject } from '../config/spec';
import { KEY_FILE_MODE, deployFiles } from './deploy-files';
import { parseTargetConfig } from './pem-file-targets';
import { commandSucceeded, describeCommandFailure, runCommand, type CommandResult } from './run-command';
import { javaKeystoreConfig } from './target-configs';
import {
  DeployError,
  type DeployContext,
  type DeployMaterial,
  type DeployResult,
  type TargetConnector,
  type VerifyEndpoint,
} from './target-port';
import { verifyEndpointFrom } from './verify-endpoint';

/** keytool starts a JVM per call; a slow host still finishes well within this. */
const KEYTOOL_TIMEOUT_MS = 120_000;

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** SHA-256 fingerprints (lowercase hex) of every certificate in PEM text, in order. */
export function pemFingerprints(text: string): string[] {
  return [...text.matchAll(PEM_CERT)].map((m) => {
    const b64 = m[0].replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
    return createHash('sha256').update(Buffer.from(b64, 'base64')).digest('hex');
  });
}

interface KeystoreConfig {
  keystore_path: string;
  keystore_type: 'JKS' | 'PKCS12';
  keystore_password: string;
  key_password?: string;
  alias: string;
  keytool_path?: string;
  reload_command?: string[];
}

/**
 * A private working directory (0700) for one deployment: the PKCS#12 handed to keytool,
 * the working copy of the keystore, and the password files. Passwords reach keytool
 * through `-storepass:file` (never on its command line, where `ps` would show them).
 */
class KeytoolSession {
  private constructor(
    readonly dir: string,
    private readonly keytool: string,
    private readonly signal?: AbortSignal,
  ) {}

  static async open(keytool: string, signal?: AbortSignal): Promise<KeytoolSession> {
    return new KeytoolSession(await mkdtemp(join(tmpdir(), 'certctl-keystore-')), keytool, signal);
  }

  /** Writes a password file (one line, 0600) and returns its path. */
  async passwordFile(name: string, password: string): Promise<string> {
    const path = join(this.dir, name);
    await writeFile(path, `${password}\n`, { mode: 0o600 });
    return path;
  }

  run(args: string[]): Promise<CommandResult> {
    return runCommand([this.keytool, ...args], { timeoutMs: KEYTOOL_TIMEOUT_MS, signal: this.signal });
  }

  /** The certificate chain (fingerprints, leaf first) of `alias`, or undefined when the alias is absent. */
  async chainOf(keystore: string, type: string, storepassFile: string, alias: string): Promise<string[] | undefined> {
    const r = await this.run(
      ['-list', '-rfc', '-alias', alias, '-keystore', keystore, '-storetype', type].concat([
        '-storepass:file',
        storepassFile,
      ]),
    );
    if (commandSucceeded(r)) return pemFingerprints(r.stdout);
    if (/Alias <.*> does not exist/.test(r.stdout + r.stderr)) return undefined;
    throw new Error(describeCommandFailure(r));
  }

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

function refuseNewlines(c: KeystoreConfig): void {
  // keytool reads the first line of a password file: a line break would cut the password.
  for (const f of ['keystore_password', 'key_password'] as const) {
    if (c[f]?.includes('\n') || c[f]?.includes('\r')) {
      throw new DeployError(`${f}: must not contain line breaks (keytool reads one line)`, 'write', true);
    }
  }
}

/**
 * Java keystores (JKS or PKCS12) through the PEM -> PKCS#12 -> keytool pipeline:
 * 1. when the keystore already holds `alias` with this certificate chain, nothing happens;
 * 2. the key and chain become a PKCS#12 (libs/pki toPkcs12, friendlyName = alias);
 * 3. `keytool -importkeystore` merges it into a working copy of the keystore (other
 *    entries, such as trusted CAs, are kept; the alias is replaced);
 * 4. the working copy is checked with `keytool -list` (the alias holds the new chain);
 * 5. the shared deploy primitive replaces the keystore atomically (new file 0600, an
 *    existing one keeps owner and mode), runs reload_command, and restores the old
 *    keystore if the reload fails.
 * PKCS12 keystores have one password: keytool ignores a different key_password there.
 */
export const javaKeystoreConnector: TargetConnector = {
  type: TargetType.JavaKeystore,

  async deploy(material: DeployMaterial, ctx: DeployContext): Promise<DeployResult> {
    const c: KeystoreConfig = parseTargetConfig(TargetType.JavaKeystore, javaKeystoreConfig, ctx.config);
    refuseNewlines(c);
    const log = ctx.log ?? (() => undefined);
    const want = pemFingerprints(`${material.certPem}\n${material.chainPem}`);
    if (want.length === 0) throw new DeployError('the certificate is not PEM', 'write', true);

    const session = await KeytoolSession.open(c.keytool_path ?? 'keytool', ctx.signal);
    try {
      const storepass = await session.passwordFile('storepass', c.keystore_password);
      const present = await exists(c.keystore_path);

      if (present) {
        let current: string[] | undefined;
        try {
          current = await session.chainOf(c.keystore_path, c.keystore_type, storepass, c.alias);
        } catch (e) {
          throw new DeployError(`cannot read the keystore ${c.keystore_path}: ${(e as Error).message}`, 'write', true);
        }
        if (current !== undefined && current.join() === want.join()) {
          const message = `${c.keystore_path} already holds this certificate chain under alias ${c.alias}; nothing changed`;
          log(message);
          return { changed: false, written: [], validated: false, reloaded: false, message };
        }
      }

      const p12Password = randomBytes(24).toString('base64url');
      let p12: Uint8Array;
      try {
        p12 = await toPkcs12({
          keyPem: material.keyPem,
          certPem: material.certPem,
          chainPems: material.chainPem,
          password: p12Password,
          friendlyName: c.alias,
        });
      } catch (e) {
        throw new DeployError(`cannot build the PKCS#12: ${(e as Error).message}`, 'write', true);
      }
      const src = join(session.dir, 'new.p12');
      await writeFile(src, p12, { mode: 0o600 });
      const work = join(session.dir, 'keystore');
      if (present) await writeFile(work, await readFile(c.keystore_path), { mode: 0o600 });

      const args = ['-importkeystore', '-noprompt', '-srckeystore', src, '-srcstoretype', 'PKCS12']
        .concat(['-srcstorepass:file', await session.passwordFile('p12pass', p12Password), '-srcalias', c.alias])
        .concat(['-destkeystore', work, '-deststoretype', c.keystore_type, '-deststorepass:file', storepass])
        .concat(['-destalias', c.alias]);
      if (c.keystore_type === 'JKS') {
        const keypass = c.key_password ?? c.keystore_password;
        args.push('-destkeypass:file', await session.passwordFile('keypass', keypass));
      } else if (c.key_password !== undefined && c.key_password !== c.keystore_password) {
        log('key_password is ignored for a PKCS12 keystore: the key is protected by keystore_password');
      }
      const imported = await session.run(args);
      if (!commandSucceeded(imported)) {
        throw new DeployError(`keytool could not import the key: ${describeCommandFailure(imported)}`, 'write', true);
      }

      let check: string[] | undefined;
      try {
        check = await session.chainOf(work, c.keystore_type, storepass, c.alias);
      } catch (e) {
        throw new DeployError(`the new keystore does not open: ${(e as Error).message}`, 'validate', true);
      }
      if (check?.join() !== want.join()) {
        throw new DeployError(
          `the new keystore does not hold the certificate chain under ${c.alias}`,
          'validate',
          true,
        );
      }
      log(`keytool imported the key and ${want.length} certificate(s) under alias ${c.alias}`);

      const result = await deployFiles({
        files: [{ path: c.keystore_path, bytes: await readFile(work), mode: KEY_FILE_MODE }],
        reload: c.reload_command,
        log,
        signal: ctx.signal,
      });
      return { ...result, validated: true, message: `${result.message} (keytool -list checked the alias)` };
    } finally {
      await session.close();
    }
  },

  verifyEndpoint(config: ConfigObject): VerifyEndpoint | undefined {
    return verifyEndpointFrom(config);
  },
};
