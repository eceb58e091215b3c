import { IssuerType } from '@certctl/domain';
import { checkConfig } from '../config/spec';
import { issuerConfigSpec } from './registry';

const check = (type: IssuerType, config: unknown) => checkConfig(issuerConfigSpec(type), config, 'body.config');

function issues(type: IssuerType, config: unknown): string[] {
  const r = check(type, config);
  if (r.ok) throw new Error(`expected ${type} config to be rejected: ${JSON.stringify(config)}`);
  return r.issues;
}

describe('issuer config schemas', () => {
  it('has a spec for every issuer type, each rejecting unknown fields', () => {
    for (const type of Object.values(IssuerType)) {
      expect(issues(type, { surely_not_a_field: 1 })).toContain('body.config.surely_not_a_field: unknown field');
    }
  });

  it('declares the secret fields of each type', () => {
    expect(issuerConfigSpec('LocalCA').secretFields).toEqual(['ca_key_passphrase']);
    expect(issuerConfigSpec('ACME').secretFields).toEqual(['eab_hmac_key']);
    expect(issuerConfigSpec('VaultPKI').secretFields).toEqual(['token', 'secret_id']);
    expect(issuerConfigSpec('StepCA').secretFields).toEqual(['provisioner_password', 'provisioner_key']);
    expect(issuerConfigSpec('DigiCert').secretFields).toEqual(['api_key']);
    expect(issuerConfigSpec('AWSACMPCA').secretFields).toEqual(['secret_access_key', 'session_token']);
    expect(issuerConfigSpec('GoogleCAS').secretFields).toEqual(['credentials_json']);
    expect(issuerConfigSpec('GlobalSign').secretFields).toEqual(['api_key', 'api_secret', 'client_key_passphrase']);
  });

  describe('LocalCA', () => {
    it('accepts self-signed (empty) and sub-CA configs', () => {
      expect(check('LocalCA', {})).toEqual({ ok: true, config: {} });
      expect(
        check('LocalCA', { ca_common_name: 'Corp Root', key_algorithm: 'ECDSA-P384', ca_validity_days: 3650 }).ok,
      ).toBe(true);
      expect(check('LocalCA', { ca_cert_path: '/etc/certctl/ca.pem', ca_key_path: '/etc/certctl/ca.key' }).ok).toBe(
        true,
      );
    });

    it('rejects half a sub-CA, relative paths and self-signed settings in sub-CA mode', () => {
      expect(issues('LocalCA', { ca_cert_path: '/etc/ca.pem' })).toEqual([
        'body.config.ca_key_path: is required together with ca_cert_path',
      ]);
      expect(issues('LocalCA', { ca_cert_path: 'ca.pem', ca_key_path: '/a/../ca.key' })).toEqual([
        'body.config.ca_cert_path: must be an absolute path',
        'body.config.ca_key_path: must not contain NUL bytes or .. segments',
      ]);
      expect(
        issues('LocalCA', {
          ca_cert_path: '/ca.pem',
          ca_key_path: '/ca.key',
          ca_common_name: 'X',
          key_algorithm: 'RSA-2048',
        }),
      ).toEqual([
        'body.config.ca_common_name: only applies to self-signed mode (the CA certificate comes from ca_cert_path)',
        'body.config.key_algorithm: only applies to self-signed mode (the CA certificate comes from ca_cert_path)',
      ]);
      expect(issues('LocalCA', { key_algorithm: 'DSA', default_validity_days: 0 })).toEqual([
        'body.config.key_algorithm: must be one of: ECDSA-P256, ECDSA-P384, RSA-2048, RSA-3072, RSA-4096',
        'body.config.default_validity_days: must be between 1 and 825',
      ]);
      expect(issues('LocalCA', { ca_key_passphrase: 'x' })).toEqual([
        'body.config.ca_key_passphrase: is only used with ca_key_path (sub-CA mode)',
      ]);
    });
  });

  describe('ACME', () => {
    const base = { directory_url: 'https://acme-v02.api.letsencrypt.org/directory', email: 'pki@example.com' };

    it('accepts HTTP-01, DNS-01 with hooks and EAB', () => {
      expect(check('ACME', base).ok).toBe(true);
      expect(
        check('ACME', {
          ...base,
          challenge_type: 'dns-01',
          dns_present_script: '/opt/hooks/present.sh',
          dns_cleanup_script: '/opt/hooks/cleanup.sh',
          eab_kid: 'kid-123',
          eab_hmac_key: 'c2VjcmV0LWhtYWMta2V5',
        }).ok,
      ).toBe(true);
      expect(
        check('ACME', { ...base, challenge_type: 'dns-persist-01', dns_persist_issuer_domain: 'letsencrypt.org' }).ok,
      ).toBe(true);
    });

    it('rejects http directories, bad emails, unknown challenges and missing hooks', () => {
      expect(issues('ACME', { directory_url: 'http://acme.example/dir', email: 'nope' })).toEqual([
        'body.config.directory_url: must be an https:// URL without embedded credentials',
        'body.config.email: must be an email address',
      ]);
      expect(issues('ACME', { ...base, challenge_type: 'tls-alpn-01' })).toEqual([
        'body.config.challenge_type: must be one of: http-01, dns-01, dns-persist-01',
      ]);
      expect(issues('ACME', { ...base, challenge_type: 'dns-01', dns_present_script: '/p.sh' })).toEqual([
        'body.config.dns_cleanup_script: is required for challenge_type dns-01',
      ]);
      expect(issues('ACME', { ...base, eab_kid: 'k' })).toEqual([
        'body.config.eab_hmac_key: is required together with eab_kid',
      ]);
      expect(issues('ACME', { ...base, eab_kid: 'k', eab_hmac_key: 'not base64!' })).toEqual([
        'body.config.eab_hmac_key: must be the base64url HMAC key the CA issued',
      ]);
      expect(issues('ACME', { email: 'a@b.example' })).toEqual(['body.config.directory_url: is required']);
    });
  });

  describe('VaultPKI', () => {
    const base = { address: 'https://vault.example.com:8200', mount: 'pki_int', role: 'web' };

    it('accepts token or AppRole auth', () => {
      expect(check('VaultPKI', { ...base, token: 'hvs.abc', ttl: '720h' }).ok).toBe(true);
      expect(check('VaultPKI', { ...base, role_id: 'r-1', secret_id: 's-1', approle_mount: 'approle' }).ok).toBe(true);
    });

    it('requires exactly one auth method and a valid ttl', () => {
      expect(issues('VaultPKI', base)).toEqual([
        'body.config.token: is required unless AppRole role_id and secret_id are given',
      ]);
      expect(issues('VaultPKI', { ...base, token: 't', role_id: 'r', secret_id: 's' })).toEqual([
        'body.config.token: use either token or AppRole (role_id + secret_id), not both',
      ]);
      expect(issues('VaultPKI', { ...base, role_id: 'r' })[0]).toBe(
        'body.config.secret_id: is required together with role_id',
      );
      expect(issues('VaultPKI', { ...base, token: 't', ttl: 'a week', address: 'http://vault:8200' })).toEqual([
        'body.config.address: must be an https:// URL without embedded credentials',
        'body.config.ttl: must be a duration such as 720h, 30d, 1h30m or a number of seconds',
      ]);
      expect(issues('VaultPKI', { ...base, token: '' })).toEqual(['body.config.token: must not be empty']);
    });
  });

  describe('StepCA', () => {
    const ok = {
      ca_url: 'https://ca.internal:9000',
      root_fingerprint: 'a'.repeat(64),
      provisioner_name: 'certctl',
      provisioner_password: 'jwk-pass',
    };

    it('accepts a JWK provisioner config', () => {
      expect(check('StepCA', ok).ok).toBe(true);
      expect(check('StepCA', { ...ok, provisioner_key_path: '/etc/step/jwk.json', validity: '24h' }).ok).toBe(true);
    });

    it('requires the provisioner password (unless the key is given) and a root fingerprint or CA bundle', () => {
      const { provisioner_password: _p, ...noPass } = ok;
      expect(issues('StepCA', noPass)).toEqual([
        "body.config.provisioner_password: is required to decrypt the provisioner key fetched from the CA's /provisioners",
      ]);
      expect(check('StepCA', { ...noPass, provisioner_key: '{"kty":"EC"}' }).ok).toBe(true);
      expect(issues('StepCA', { ...ok, root_fingerprint: 'abc' })).toEqual([
        'body.config.root_fingerprint: must be the 64-hex-digit SHA-256 fingerprint of the root certificate',
      ]);
      const { root_fingerprint: _f, ...noRoot } = ok;
      expect(issues('StepCA', noRoot)).toEqual([
        'body.config.root_fingerprint: is required unless ca_cert_path names the root that signs the CA',
      ]);
      expect(check('StepCA', { ...noRoot, ca_cert_path: '/etc/step/root.pem' }).ok).toBe(true);
    });
  });

  it('checks the commercial CA shapes too', () => {
    expect(
      check('AWSACMPCA', {
        region: 'eu-west-1',
        certificate_authority_arn:
          'arn:aws:acm-pca:eu-west-1:123456789012:certificate-authority/0f9d6c1e-1234-4abc-9def-0123456789ab',
        access_key_id: 'AKIAABCDEFGHIJKLMNOP',
        secret_access_key: 'secret',
      }).ok,
    ).toBe(true);
    expect(
      issues('AWSACMPCA', {
        region: 'mars',
        certificate_authority_arn: 'arn:nope',
        access_key_id: 'AKIAABCDEFGHIJKLMNOP',
      }),
    ).toEqual([
      'body.config.region: must be an AWS region such as eu-west-1',
      'body.config.certificate_authority_arn: must be an ARN such as arn:aws:acm-pca:eu-west-1:123456789012:certificate-authority/<uuid>',
      'body.config.secret_access_key: is required together with access_key_id',
    ]);
    expect(
      issues('GoogleCAS', {
        project: 'my-project-1',
        location: 'europe-west1',
        ca_pool: 'pool',
        credentials_json: '{}',
      }),
    ).toEqual([
      'body.config.credentials_json: must be a service-account key JSON document ("type": "service_account", client_email, private_key, https token_uri)',
    ]);
    expect(
      issues('ADCS', {
        server_url: 'https://ca.corp/certsrv',
        template: 'WebServer',
        auth_method: 'basic',
        username: 'u',
      }),
    ).toEqual(['body.config.password: is required for auth_method basic']);
    expect(issues('DigiCert', { api_key: 'k', organization_id: 1.5, product_name_id: 'ssl_plus' })).toEqual([
      'body.config.organization_id: must be an integer',
    ]);
    expect(issues('OpenSSL', { sign_script: 42 })).toEqual(['body.config.sign_script: must be a string']);
  });

  it('rejects a config that is not an object', () => {
    expect(issues('LocalCA', [])).toEqual(['body.config: must be an object']);
    expect(issues('LocalCA', null)).toEqual(['body.config: must be an object']);
  });
});
