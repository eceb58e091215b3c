import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentConfigError, loadAgentConfig } from './agent-config';
import { mergeTargetSecrets, readTargetSecrets, TargetSecretsError } from './target-secrets';

const root = mkdtempSync(join(tmpdir(), 'certctl-agent-secrets-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function secretsFile(content: unknown, mode = 0o600): string {
  const p = join(root, `secrets-${n++}.json`);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  chmodSync(p, mode);
  return p;
}

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof TargetSecretsError) return e.message;
    throw e;
  }
  throw new Error('expected a TargetSecretsError');
}

describe('readTargetSecrets', () => {
  it('reads {"<target id>": {"<field>": "<value>"}} from a 0600 (or 0400) file', () => {
    const content = { 't-ssh': { password: 'hunter22' }, 't-jks': { keystore_password: 'changeit' } };
    expect(readTargetSecrets(secretsFile(content))).toEqual(content);
    expect(readTargetSecrets(secretsFile(content, 0o400))).toEqual(content);
  });

  it('refuses a file group or others can access, naming the mode and the fix', () => {
    for (const mode of [0o640, 0o604, 0o644, 0o660]) {
      const p = secretsFile({ t: { password: 'x' } }, mode);
      const msg = failure(() => readTargetSecrets(p));
      expect(msg).toContain('CERTCTL_AGENT_TARGET_SECRETS_FILE');
      expect(msg).toContain(`mode 0${mode.toString(8)}`);
      expect(msg).toContain(`chmod 600 ${p}`);
    }
  });

  it('refuses a missing file, a directory, bad JSON and bad shapes, never echoing a value', () => {
    expect(failure(() => readTargetSecrets(join(root, 'absent.json')))).toContain('cannot read');
    const dir = join(root, 'a-dir');
    mkdirSync(dir, { mode: 0o700 });
    expect(failure(() => readTargetSecrets(dir))).toContain('is not a regular file');
    expect(failure(() => readTargetSecrets(secretsFile('{"t": {"password": "sec')))).toContain('is not valid JSON');
    expect(failure(() => readTargetSecrets(secretsFile(['t'])))).toContain('must hold a JSON object');
    expect(failure(() => readTargetSecrets(secretsFile({ t: 'pw' })))).toContain('"t" must map to an object');
    const numeric = failure(() => readTargetSecrets(secretsFile({ t: { password: 123456 } })));
    expect(numeric).toContain('"t".password must be a non-empty string');
    expect(numeric).not.toContain('123456');
    expect(failure(() => readTargetSecrets(secretsFile({ t: { password: '' } })))).toContain('non-empty string');
  });
});

describe('mergeTargetSecrets', () => {
  const base = {
    targetId: 't-ssh',
    targetType: 'SSH',
    config: { host: 'web1.internal', username: 'deploy' },
    requiredFields: ['password'],
    secretFieldsOfType: ['private_key', 'private_key_passphrase', 'password'],
  };

  it('merges the file values of the target into the non-secret configuration', () => {
    const file = secretsFile({ 't-ssh': { password: 'hunter22' }, other: { password: 'nope' } });
    expect(mergeTargetSecrets({ ...base, file })).toEqual({
      host: 'web1.internal',
      username: 'deploy',
      password: 'hunter22',
    });
    // A secret the server does not hold may still come from the file.
    expect(mergeTargetSecrets({ ...base, requiredFields: [], file })).toMatchObject({ password: 'hunter22' });
  });

  it('leaves a configuration without secrets alone when no file is configured', () => {
    expect(mergeTargetSecrets({ ...base, requiredFields: [] })).toEqual(base.config);
  });

  it('fails naming target and field when a required secret is missing', () => {
    const noFile = failure(() => mergeTargetSecrets(base));
    expect(noFile).toContain('target "t-ssh" (SSH)');
    expect(noFile).toContain('"password"');
    expect(noFile).toContain('CERTCTL_AGENT_TARGET_SECRETS_FILE');

    const file = secretsFile({ 't-other': { password: 'x' }, 't-ssh': { private_key_passphrase: 'y' } });
    const missing = failure(() => mergeTargetSecrets({ ...base, file }));
    expect(missing).toBe(
      `target "t-ssh" (SSH): secret field "password" missing from CERTCTL_AGENT_TARGET_SECRETS_FILE (${file}); ` +
        'add it under "t-ssh"',
    );
  });

  it('refuses file fields that are not secret fields of the type (no rewriting paths or commands)', () => {
    const file = secretsFile({ 't-ssh': { password: 'x', cert_path: '/etc/passwd' } });
    const msg = failure(() => mergeTargetSecrets({ ...base, file }));
    expect(msg).toContain('"cert_path"');
    expect(msg).toContain('is not a secret field of SSH');
  });

  it('re-reads the file each time and re-checks its mode', () => {
    const file = secretsFile({ 't-ssh': { password: 'old' } });
    expect(mergeTargetSecrets({ ...base, file }).password).toBe('old');
    writeFileSync(file, JSON.stringify({ 't-ssh': { password: 'new' } }));
    expect(mergeTargetSecrets({ ...base, file }).password).toBe('new');
    chmodSync(file, 0o644);
    expect(failure(() => mergeTargetSecrets({ ...base, file }))).toContain('chmod 600');
  });
});

describe('CERTCTL_AGENT_TARGET_SECRETS_FILE in the agent configuration', () => {
  const env = { CERTCTL_SERVER_URL: 'https://certctl.example.com', CERTCTL_AGENT_ID: 'ag-1', CERTCTL_API_KEY: 'cc_x' };
  const problems = (extra: Record<string, string>): string[] => {
    try {
      loadAgentConfig({ ...env, ...extra });
    } catch (e) {
      if (e instanceof AgentConfigError) return e.problems;
      throw e;
    }
    return [];
  };

  it('is checked at start: an accessible-to-others file refuses to start', () => {
    const open = secretsFile({ t: { password: 'x' } }, 0o644);
    const p = problems({ CERTCTL_AGENT_TARGET_SECRETS_FILE: open });
    expect(p).toHaveLength(1);
    expect(p[0]).toContain('CERTCTL_AGENT_TARGET_SECRETS_FILE');
    expect(p[0]).toContain('chmod 600');
    expect(problems({ CERTCTL_AGENT_TARGET_SECRETS_FILE: 'secrets.json' })[0]).toContain('must be an absolute path');
    expect(problems({ CERTCTL_AGENT_TARGET_SECRETS_FILE: secretsFile('nope') })[0]).toContain('not valid JSON');
  });

  it('is kept as a path (read again per deployment)', () => {
    const file = secretsFile({ t: { password: 'x' } });
    const c = loadAgentConfig({ ...env, CERTCTL_AGENT_TARGET_SECRETS_FILE: file });
    expect(c.targetSecretsFile).toBe(file);
    expect(JSON.stringify(c)).not.toContain('"x"');
    expect(loadAgentConfig(env).targetSecretsFile).toBeUndefined();
  });
});
