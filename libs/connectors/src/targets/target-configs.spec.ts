import { TargetType } from '@certctl/domain';
import { checkConfig } from '../config/spec';
import { targetConfigSpec } from './registry';

const check = (type: TargetType, config: unknown) => checkConfig(targetConfigSpec(type), config, 'body.config');

function issues(type: TargetType, config: unknown): string[] {
  const r = check(type, config);
  if (r.ok) throw new Error(`expected ${type} config to be rejected: ${JSON.stringify(config)}`);
  return r.issues;
}

const SSH_KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';

describe('target config schemas', () => {
  it('has a spec for every target type, each rejecting unknown fields', () => {
    for (const type of Object.values(TargetType)) {
      expect(issues(type, { not_a_field: true })).toContain('body.config.not_a_field: unknown field');
    }
  });

  it('declares the secret fields of each type', () => {
    expect(targetConfigSpec('NGINX').secretFields).toEqual([]);
    expect(targetConfigSpec('SSH').secretFields).toEqual(['private_key', 'private_key_passphrase', 'password']);
    expect(targetConfigSpec('F5').secretFields).toEqual(['password']);
    expect(targetConfigSpec('KubernetesSecrets').secretFields).toEqual(['kubeconfig']);
    expect(targetConfigSpec('IIS').secretFields).toEqual(['winrm_password']);
    expect(targetConfigSpec('JavaKeystore').secretFields).toEqual(['keystore_password', 'key_password']);
    expect(targetConfigSpec('AzureKeyVault').secretFields).toEqual(['client_secret']);
  });

  describe('NGINX', () => {
    const ok = {
      cert_path: '/etc/nginx/ssl/site.crt',
      key_path: '/etc/nginx/ssl/site.key',
      chain_path: '/etc/nginx/ssl/chain.pem',
      reload_command: ['systemctl', 'reload', 'nginx'],
      validate_command: ['nginx', '-t'],
      key_file_mode: '0600',
      fullchain: true,
    };

    it('accepts absolute paths and argv commands', () => {
      expect(check('NGINX', ok)).toEqual({ ok: true, config: ok });
    });

    it('rejects relative paths, shell strings, empty argv and clashing paths', () => {
      expect(issues('NGINX', { ...ok, cert_path: 'site.crt', reload_command: 'systemctl reload nginx' })).toEqual([
        'body.config.cert_path: must be an absolute path',
        'body.config.reload_command: must be an argv array of strings, e.g. ["systemctl", "reload", "nginx"]',
      ]);
      expect(issues('NGINX', { ...ok, validate_command: [] })).toEqual([
        'body.config.validate_command: must name the program to run',
      ]);
      expect(issues('NGINX', { ...ok, reload_command: ['nginx', ''] })).toEqual([
        'body.config.reload_command[1]: must not be empty',
      ]);
      expect(issues('NGINX', { ...ok, key_path: ok.cert_path })).toEqual([
        'body.config.key_path: must differ from cert_path',
      ]);
      expect(issues('NGINX', { key_path: '/k' })).toEqual(['body.config.cert_path: is required']);
      expect(issues('NGINX', { ...ok, key_file_mode: '777x' })).toEqual([
        'body.config.key_file_mode: must be an octal file mode such as 0600',
      ]);
    });
  });

  describe('Apache', () => {
    it('accepts the httpd file layout and rejects a missing key path', () => {
      expect(
        check('Apache', {
          cert_path: '/etc/httpd/ssl/site.crt',
          key_path: '/etc/httpd/ssl/site.key',
          validate_command: ['apachectl', 'configtest'],
          reload_command: ['apachectl', '-k', 'graceful'],
        }).ok,
      ).toBe(true);
      expect(issues('Apache', { cert_path: '/etc/httpd/ssl/site.crt' })).toEqual(['body.config.key_path: is required']);
    });
  });

  describe('HAProxy', () => {
    it('takes one combined PEM path and an optional runtime API socket', () => {
      expect(
        check('HAProxy', {
          pem_path: '/etc/haproxy/certs/site.pem',
          runtime_api_socket: '/run/haproxy/admin.sock',
          validate_command: ['haproxy', '-c', '-f', '/etc/haproxy/haproxy.cfg'],
        }).ok,
      ).toBe(true);
      expect(issues('HAProxy', { cert_path: '/etc/haproxy/site.crt' })).toEqual([
        'body.config.pem_path: is required',
        'body.config.cert_path: unknown field',
      ]);
    });
  });

  describe('SSH', () => {
    const ok = {
      host: 'web-01.internal',
      port: 22,
      username: 'deploy',
      private_key: SSH_KEY,
      host_key_fingerprint: 'SHA256:' + 'A'.repeat(43),
      cert_path: '/etc/ssl/site.crt',
      key_path: '/etc/ssl/site.key',
      reload_command: ['sudo', 'systemctl', 'reload', 'nginx'],
    };

    it('accepts key or password authentication', () => {
      expect(check('SSH', ok).ok).toBe(true);
      const { private_key: _k, ...noKey } = ok;
      expect(check('SSH', { ...noKey, password: 'hunter22', host: '10.0.0.5' }).ok).toBe(true);
    });

    it('requires exactly one of private_key and password, a PEM key, a valid host and port', () => {
      const { private_key: _k, ...noKey } = ok;
      expect(issues('SSH', noKey)).toEqual(['body.config.private_key: is required unless password is given']);
      expect(issues('SSH', { ...ok, password: 'p' })).toEqual([
        'body.config.password: use either private_key or password, not both',
      ]);
      expect(issues('SSH', { ...ok, private_key: 'ssh-rsa AAAA' })).toEqual([
        'body.config.private_key: must be a PEM private key',
      ]);
      expect(issues('SSH', { ...ok, host: 'bad host!', port: 70000 })).toEqual([
        'body.config.host: must be a host name or an IP address',
        'body.config.port: must be between 1 and 65535',
      ]);
    });
  });

  describe('F5', () => {
    const ok = {
      host: 'bigip.example.com',
      username: 'certctl',
      password: 'secret',
      partition: 'Common',
      client_ssl_profile: 'clientssl_site',
    };

    it('accepts an iControl REST config', () => {
      expect(check('F5', ok).ok).toBe(true);
      expect(
        check('F5', { ...ok, port: 8443, client_ssl_profile: '/Common/site', ca_cert_path: '/etc/certctl/f5-ca.pem' })
          .ok,
      ).toBe(true);
    });

    it('requires the password and a valid partition', () => {
      const { password: _p, ...noPassword } = ok;
      expect(issues('F5', noPassword)).toEqual(['body.config.password: is required']);
      expect(issues('F5', { ...ok, partition: 'has space' })).toEqual([
        'body.config.partition: must be a BIG-IP partition name such as Common',
      ]);
    });
  });

  describe('KubernetesSecrets', () => {
    it('accepts in-cluster and kubeconfig auth', () => {
      expect(check('KubernetesSecrets', { namespace: 'ingress', secret_name: 'site-tls' }).ok).toBe(true);
      expect(
        check('KubernetesSecrets', {
          namespace: 'ingress',
          secret_name: 'site-tls',
          kubeconfig: 'apiVersion: v1\nkind: Config\nclusters: []\n',
          labels: { 'app.kubernetes.io/managed-by': 'certctl' },
        }).ok,
      ).toBe(true);
    });

    it('rejects names Kubernetes would refuse and kubeconfigs that are not one', () => {
      expect(issues('KubernetesSecrets', { namespace: 'Ingress_NS', secret_name: 'Site TLS' })).toEqual([
        'body.config.namespace: must be a DNS-1123 label (lowercase letters, digits, -; at most 63)',
        'body.config.secret_name: must be a DNS-1123 subdomain (lowercase letters, digits, - and .)',
      ]);
      expect(issues('KubernetesSecrets', { namespace: 'a', secret_name: 'b', kubeconfig: 'hello' })).toEqual([
        'body.config.kubeconfig: must be a kubeconfig document (YAML with apiVersion/clusters)',
      ]);
    });
  });

  it('checks mode-dependent Windows, Caddy and cloud settings', () => {
    expect(issues('IIS', { mode: 'winrm', site_name: 'Default Web Site', winrm_host: 'iis-01' })).toEqual([
      'body.config.winrm_username: is required for mode winrm',
      'body.config.winrm_password: is required for mode winrm',
    ]);
    expect(issues('IIS', { mode: 'local', site_name: 'Default Web Site', winrm_password: 'p' })).toEqual([
      'body.config.winrm_password: only applies to mode winrm',
    ]);
    expect(issues('Caddy', { mode: 'admin_api' })).toEqual(['body.config.admin_url: is required for mode admin_api']);
    expect(check('Caddy', { mode: 'admin_api', admin_url: 'http://localhost:2019' }).ok).toBe(true);
    expect(
      issues('JavaKeystore', {
        keystore_path: '/opt/app/ks.p12',
        keystore_type: 'PKCS12',
        keystore_password: '123',
        alias: 'web',
      }),
    ).toEqual(['body.config.keystore_password: must be at least 6 characters (keytool)']);
    expect(
      issues('AzureKeyVault', { vault_url: 'https://evil.example.com', certificate_name: 'site', client_secret: 's' }),
    ).toEqual([
      'body.config.vault_url: must be a Key Vault URL such as https://<name>.vault.azure.net',
      'body.config.tenant_id: is required with client_secret',
      'body.config.client_id: is required with client_secret',
    ]);
    expect(check('AWSACM', { region: 'us-east-1', tags: { env: 'prod' } }).ok).toBe(true);
  });
});
