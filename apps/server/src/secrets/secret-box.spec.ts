import { SecretBox, SecretDecryptError, SecretKeyMissingError } from './secret-box';

const PASS = 'correct horse battery staple, long enough!';

describe('SecretBox', () => {
  const box = new SecretBox(PASS);

  it('round-trips and never stores the plaintext', async () => {
    const blob = await box.seal({ token: 's.vault-token-123' }, 'issuers:iss-vault');
    expect(blob[0]).toBe(1);
    expect(blob.toString('latin1')).not.toContain('vault-token');
    await expect(box.open(blob, 'issuers:iss-vault')).resolves.toEqual({ token: 's.vault-token-123' });
  });

  it('uses a fresh salt and nonce per blob', async () => {
    const a = await box.seal({ k: 'v' }, 'ctx');
    const b = await box.seal({ k: 'v' }, 'ctx');
    expect(a.subarray(1, 29).equals(b.subarray(1, 29))).toBe(false);
  });

  it('fails clearly with a wrong passphrase, another row, or a tampered blob', async () => {
    const blob = await box.seal({ k: 'v' }, 'targets:t-1');
    await expect(new SecretBox('another passphrase that is long enough').open(blob, 'targets:t-1')).rejects.toThrow(
      /wrong CERTCTL_CONFIG_ENCRYPTION_KEY/,
    );
    await expect(box.open(blob, 'targets:t-2')).rejects.toBeInstanceOf(SecretDecryptError);
    const tampered = Buffer.from(blob);
    tampered[tampered.length - 20] ^= 1;
    await expect(box.open(tampered, 'targets:t-1')).rejects.toBeInstanceOf(SecretDecryptError);
  });

  it('refuses to seal without a passphrase', async () => {
    await expect(new SecretBox(undefined).seal({ k: 'v' }, 'issuers:x')).rejects.toBeInstanceOf(SecretKeyMissingError);
  });
});
