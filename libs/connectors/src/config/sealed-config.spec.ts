import { DomainError, ErrorCode } from '@certctl/domain';
import { vaultPkiConfig } from '../issuers/issuer-configs';
import { nginxConfig, sshConfig } from '../targets/target-configs';
import { prepareConfig, unsealConfig, type SecretSealer, type StoredConfig } from './sealed-config';
import { redactConfig, REDACTED, splitSecrets } from './spec';

/** A reversible fake: records what it sealed and refuses a blob opened under another context. */
class FakeSealer implements SecretSealer {
  seals = 0;
  opens = 0;
  constructor(readonly enabled = true) {}
  async seal(secret: Record<string, unknown>, context: string): Promise<Buffer> {
    this.seals++;
    return Buffer.from(JSON.stringify({ context, secret }).split('').reverse().join(''));
  }
  async open(blob: Buffer, context: string): Promise<Record<string, unknown>> {
    this.opens++;
    const v = JSON.parse(blob.toString().split('').reverse().join('')) as {
      context: string;
      secret: Record<string, unknown>;
    };
    if (v.context !== context) throw new Error(`cannot decrypt the sealed secrets of ${context}: wrong row`);
    return v.secret;
  }
}

const CTX = 'issuers:iss-vault';
const vault = { address: 'https://vault.example.com', mount: 'pki', role: 'web' };

async function stored(sealer: FakeSealer, input: Record<string, unknown>): Promise<StoredConfig> {
  const p = await prepareConfig({ spec: vaultPkiConfig, input, sealer, context: CTX });
  return { config: p.config, secretConfig: p.secretConfig, secretFields: p.secretFields };
}

async function rejection(p: Promise<unknown>): Promise<DomainError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof DomainError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe('splitSecrets / redactConfig', () => {
  it('splits the secret fields out and redacts the ones stored', () => {
    expect(splitSecrets({ a: 1, token: 't', x: undefined }, ['token', 'secret_id'])).toEqual({
      config: { a: 1 },
      secrets: { token: 't' },
    });
    expect(redactConfig({ a: 1 }, ['token'])).toEqual({ a: 1, token: REDACTED });
  });
});

describe('prepareConfig', () => {
  it('seals secrets apart from the plain config on create', async () => {
    const sealer = new FakeSealer();
    const p = await prepareConfig({
      spec: vaultPkiConfig,
      input: { ...vault, token: 'hvs.secret' },
      sealer,
      context: CTX,
    });
    expect(p.config).toEqual(vault);
    expect(p.secretFields).toEqual(['token']);
    expect(JSON.stringify(p.config)).not.toContain('hvs.secret');
    await expect(sealer.open(p.secretConfig!, CTX)).resolves.toEqual({ token: 'hvs.secret' });
    expect(p.changedFields).toEqual(['address', 'mount', 'role', 'token']);
  });

  it('stores no blob when there are no secrets, and needs no key for that', async () => {
    const sealer = new FakeSealer(false);
    const input = { host: 'h', username: 'u', password: 'p', cert_path: '/c', key_path: '/k' };
    const p = await prepareConfig({
      spec: nginxConfig,
      input: { cert_path: '/c', key_path: '/k', chain_path: null },
      sealer,
      context: 't',
    });
    expect(p).toEqual({
      config: { cert_path: '/c', key_path: '/k' },
      secretConfig: null,
      secretFields: [],
      changedFields: ['cert_path', 'key_path'],
    });
    // a type with secrets, given none, needs no key either
    const { password: _p, ...noSecret } = input;
    const e = await rejection(prepareConfig({ spec: sshConfig, input: noSecret, sealer, context: 't' }));
    expect(e.message).toBe('body.config.private_key: is required unless password is given');
  });

  it('refuses secrets without an encryption key, naming the field and the setting', async () => {
    const e = await rejection(
      prepareConfig({
        spec: vaultPkiConfig,
        input: { ...vault, token: 'x' },
        sealer: new FakeSealer(false),
        context: CTX,
      }),
    );
    expect(e.code).toBe(ErrorCode.Validation);
    expect(e.message).toMatch(/^body\.config\.token: is a secret; .*CERTCTL_CONFIG_ENCRYPTION_KEY/);
  });

  it('keeps a secret sent back as [REDACTED] or omitted, and reuses the blob', async () => {
    const sealer = new FakeSealer();
    const before = await stored(sealer, { ...vault, token: 'hvs.keep' });
    sealer.seals = 0;
    for (const input of [
      { ...vault, token: REDACTED, ttl: '24h' },
      { ...vault, ttl: '24h' },
    ]) {
      const p = await prepareConfig({ spec: vaultPkiConfig, input, stored: before, sealer, context: CTX });
      expect(p.config).toEqual({ ...vault, ttl: '24h' });
      expect(p.secretConfig).toBe(before.secretConfig);
      expect(p.changedFields).toEqual(['ttl']);
    }
    expect(sealer.seals).toBe(0);
  });

  it('replaces a secret given a new value and clears it on null', async () => {
    const sealer = new FakeSealer();
    const before = await stored(sealer, { ...vault, token: 'hvs.old' });
    const replaced = await prepareConfig({
      spec: vaultPkiConfig,
      input: { ...vault, token: 'hvs.new' },
      stored: before,
      sealer,
      context: CTX,
    });
    await expect(sealer.open(replaced.secretConfig!, CTX)).resolves.toEqual({ token: 'hvs.new' });
    expect(replaced.changedFields).toEqual(['token']);

    const switched = await prepareConfig({
      spec: vaultPkiConfig,
      input: { ...vault, token: null, role_id: 'r', secret_id: 's' },
      stored: before,
      sealer,
      context: CTX,
    });
    expect(switched.secretFields).toEqual(['secret_id']);
    await expect(sealer.open(switched.secretConfig!, CTX)).resolves.toEqual({ secret_id: 's' });
    expect(switched.changedFields).toEqual(['role_id', 'secret_id', 'token']);
  });

  it('validates the merged config: clearing the only credential is refused', async () => {
    const sealer = new FakeSealer();
    const before = await stored(sealer, { ...vault, token: 'hvs.old' });
    const e = await rejection(
      prepareConfig({ spec: vaultPkiConfig, input: { ...vault, token: null }, stored: before, sealer, context: CTX }),
    );
    expect(e.message).toBe('body.config.token: is required unless AppRole role_id and secret_id are given');
  });

  it('refuses [REDACTED] when nothing is stored', async () => {
    const e = await rejection(
      prepareConfig({
        spec: vaultPkiConfig,
        input: { ...vault, token: REDACTED },
        sealer: new FakeSealer(),
        context: CTX,
      }),
    );
    expect(e.message).toBe(
      'body.config.token: "[REDACTED]" stands for a stored secret, but none is stored; send the value',
    );
  });

  it('re-validates the stored config when no config is sent (a type change)', async () => {
    const sealer = new FakeSealer();
    const before = await stored(sealer, { ...vault, token: 'hvs.old' });
    const e = await rejection(
      prepareConfig({ spec: sshConfig, input: undefined, stored: before, sealer, context: CTX }),
    );
    expect(e.message).toContain('body.config.address: unknown field');
    expect(e.message).toContain('body.config.host: is required');
  });

  it('answers 503 when stored secrets cannot be opened', async () => {
    const sealer = new FakeSealer();
    const before = await stored(sealer, { ...vault, token: 'hvs.old' });
    const e = await rejection(
      prepareConfig({
        spec: vaultPkiConfig,
        input: { ...vault },
        stored: before,
        sealer,
        context: 'issuers:another-row',
      }),
    );
    expect(e.code).toBe(ErrorCode.Unavailable);
    expect(e.message).toContain('cannot decrypt');
    await expect(unsealConfig(before, sealer, CTX)).resolves.toEqual({ ...vault, token: 'hvs.old' });
    await expect(unsealConfig(before, new FakeSealer(false), CTX)).rejects.toThrow(
      /CERTCTL_CONFIG_ENCRYPTION_KEY is not set/,
    );
  });
});
