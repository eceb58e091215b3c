import { TargetType } from '@certctl/domain';
import { z } from 'zod';
import {
  absolutePath,
  argv,
  awsArn,
  awsRegion,
  bool,
  dnsLabel,
  dnsSubdomain,
  fileMode,
  host,
  httpUrl,
  httpsUrl,
  iamRoleArn,
  oneOf,
  port,
  posixName,
  secret,
  secretPem,
  stringMap,
  text,
  uuid,
  str,
} from '../config/fields';
import { awsAccessKeyId, awsCredentials, together } from '../config/rules';
import { defineConfig, type ConfigSpec, type RefineContext, type Refinement } from '../config/spec';
import { verificationFields, verificationRules } from './verify-endpoint';

/*
 * Target configs describe where an agent puts a certificate. Agents deploy; the server
 * never connects to a target. Commands are argv arrays executed without a shell.
 */

/**
 * Every target type also takes the optional post-deployment check (verify_host, verify_port,
 * verify_server_name): the agent's TLS handshake compares the served certificate.
 */
function targetConfig<S extends z.ZodRawShape>(shape: S, refine?: Refinement<z.infer<z.ZodObject<S>>>) {
  return defineConfig({ ...shape, ...verificationFields }, (v, ctx) => {
    refine?.(v as z.infer<z.ZodObject<S>>, ctx);
    verificationRules(v, ctx);
  });
}

/**
 * Certificate, key and chain files written by the agent on the host it runs on. Without
 * chain_path the chain is appended to cert_path (a full chain file). Existing files keep
 * their owner and mode; new files get file_owner/file_group (default: the agent's user),
 * 0644 for certificates and key_file_mode (default 0600) for the key.
 */
const pemFiles = {
  cert_path: absolutePath(),
  key_path: absolutePath(),
  chain_path: absolutePath().optional(),
  /** Applied to new and existing files. */
  file_owner: posixName().optional(),
  file_group: posixName().optional(),
  /** Mode of the key file; when set it is applied to an existing key file too. Default 0600. */
  key_file_mode: fileMode().optional(),
};

/** Each type documents its default commands, used when these fields are absent. */
const commands = {
  /** Checks the new configuration before the reload (e.g. ["nginx", "-t"]); a failure rolls back. */
  validate_command: argv().optional(),
  /** Makes the service load the new files; a failure rolls back and reloads the old files. */
  reload_command: argv().optional(),
};

/** Two file fields pointing at one file would overwrite each other. */
function distinctPaths(v: Record<string, unknown>, ctx: RefineContext, fields: readonly string[]): void {
  const seen = new Map<string, string>();
  for (const f of fields) {
    const p = v[f];
    if (typeof p !== 'string') continue;
    const other = seen.get(p);
    if (other) ctx.issue(f, `must differ from ${other}`);
    else seen.set(p, f);
  }
}

const fileTarget = <E extends z.ZodRawShape = Record<never, never>>(extra?: E) =>
  targetConfig({ ...pemFiles, ...commands, ...extra } as typeof pemFiles & typeof commands & E, (v, ctx) =>
    distinctPaths(v, ctx, ['cert_path', 'key_path', 'chain_path']),
  );

/** NGINX: writes the files; validate default ["nginx", "-t"], reload default ["nginx", "-s", "reload"]. */
export const nginxConfig = fileTarget({
  /**
   * Write certificate + chain into cert_path (what ssl_certificate expects). Default: true
   * without chain_path, false with it (the chain then goes to chain_path only).
   */
  fullchain: bool().optional(),
});
/** Apache httpd: writes the files; validate default ["apachectl", "configtest"], reload default ["apachectl", "graceful"]. */
export const apacheConfig = fileTarget();
/** Postfix: writes the files; validate default ["postfix", "check"], reload default ["postfix", "reload"]. */
export const postfixConfig = fileTarget();
/** Dovecot: writes the files; validate default ["doveconf", "-n"], reload default ["doveadm", "reload"]. */
export const dovecotConfig = fileTarget();

/**
 * HAProxy: one combined PEM (certificate + chain + key, mode 0600 when new); validate default
 * ["haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg"], reload default ["systemctl", "reload", "haproxy"],
 * or a hot update over the runtime API instead of the reload.
 */
export const haproxyConfig = targetConfig(
  {
    pem_path: absolutePath(),
    file_owner: posixName().optional(),
    file_group: posixName().optional(),
    /**
     * Stats socket with `level admin`: `set ssl cert` + `commit ssl cert` replace the
     * certificate in the running process (pem_path must be a `crt` HAProxy loaded).
     */
    runtime_api_socket: absolutePath().optional(),
    ...commands,
  },
  (v, ctx) => {
    if (v.runtime_api_socket !== undefined && v.reload_command !== undefined) {
      ctx.issue('reload_command', 'use either runtime_api_socket or reload_command, not both');
    }
    // The runtime API splits its commands on spaces and `;`.
    if (v.runtime_api_socket !== undefined && /[\s;\\]/.test(v.pem_path)) {
      ctx.issue('pem_path', 'must not contain spaces, ; or \\ when runtime_api_socket is used');
    }
  },
);

/**
 * Traefik file provider: writes the files (and the dynamic configuration naming them) into a
 * location Traefik watches; Traefik reloads by itself, so there is no command.
 */
export const traefikConfig = targetConfig(
  {
    ...pemFiles,
    /** Dynamic configuration file (tls.certificates) the agent keeps pointing at the files. */
    dynamic_config_path: absolutePath().optional(),
  },
  (v, ctx) => distinctPaths(v, ctx, ['cert_path', 'key_path', 'chain_path', 'dynamic_config_path']),
);

/** Caddy: hot-load through the admin API, or write files and reload. */
export const caddyConfig = targetConfig(
  {
    mode: oneOf(['admin_api', 'file'] as const),
    /** Usually http://localhost:2019; only the agent on that host reaches it. */
    admin_url: httpUrl().optional(),
    cert_path: absolutePath().optional(),
    key_path: absolutePath().optional(),
    reload_command: argv().optional(),
  },
  (v, ctx) => {
    if (v.mode === 'admin_api') {
      if (v.admin_url === undefined) ctx.issue('admin_url', 'is required for mode admin_api');
    } else {
      for (const f of ['cert_path', 'key_path'] as const) {
        if (v[f] === undefined) ctx.issue(f, 'is required for mode file');
      }
      if (v.admin_url !== undefined) ctx.issue('admin_url', 'only applies to mode admin_api');
    }
    distinctPaths(v, ctx, ['cert_path', 'key_path']);
  },
);

/** Envoy: file-based, optionally with an SDS resource file Envoy watches. */
export const envoyConfig = targetConfig(
  {
    ...pemFiles,
    sds_config_path: absolutePath().optional(),
    /** Name of the SDS secret resource (tls_certificate) written to sds_config_path. */
    sds_secret_name: text(256).optional(),
    ...commands,
  },
  (v, ctx) => {
    distinctPaths(v, ctx, ['cert_path', 'key_path', 'chain_path', 'sds_config_path']);
    together(v, ctx.issue, 'sds_config_path', 'sds_secret_name');
  },
);

/** Windows Remote Management settings for agentless Windows hosts (a proxy agent connects). */
const winrm = {
  mode: oneOf(['local', 'winrm'] as const),
  winrm_host: host().optional(),
  winrm_port: port().optional(),
  winrm_https: bool().optional(),
  winrm_username: text(256).optional(),
  winrm_password: secret(1024).optional(),
};
const WINRM_FIELDS = ['winrm_host', 'winrm_port', 'winrm_https', 'winrm_username', 'winrm_password'] as const;

function winrmRules(v: Record<string, unknown>, ctx: RefineContext): void {
  if (v.mode === 'winrm') {
    for (const f of ['winrm_host', 'winrm_username', 'winrm_password'] as const) {
      if (v[f] === undefined) ctx.issue(f, 'is required for mode winrm');
    }
  } else {
    for (const f of WINRM_FIELDS) if (v[f] !== undefined) ctx.issue(f, 'only applies to mode winrm');
  }
}

/** IIS: import the PFX and bind it to a site (agent-local PowerShell, or WinRM from a proxy agent). */
export const iisConfig = targetConfig(
  {
    ...winrm,
    site_name: text(256),
    binding_host: host().optional(),
    binding_port: port().optional(),
    binding_ip: str()
      .regex(/^(\*|\d{1,3}(\.\d{1,3}){3})$/, 'must be * or an IPv4 address')
      .optional(),
    sni: bool().optional(),
    cert_store: oneOf(['My', 'WebHosting'] as const).optional(),
  },
  (v, ctx) => {
    winrmRules(v, ctx);
    if (v.sni === true && v.binding_host === undefined) ctx.issue('binding_host', 'is required when sni is true');
  },
);

/** Windows certificate store import (local or WinRM). */
export const winCertStoreConfig = targetConfig(
  {
    ...winrm,
    store_location: oneOf(['LocalMachine', 'CurrentUser'] as const),
    store_name: oneOf(['My', 'WebHosting', 'Root', 'CA', 'TrustedPeople'] as const),
    friendly_name: text(256).optional(),
    exportable_key: bool().optional(),
    /** Remove the previous certificate of this target after a successful import. */
    remove_previous: bool().optional(),
  },
  winrmRules,
);

/** F5 BIG-IP through iControl REST (a proxy agent in the appliance's network zone). */
export const f5Config = targetConfig({
  host: host(),
  port: port().optional(),
  username: text(256),
  password: secret(1024),
  partition: str().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be a BIG-IP partition name such as Common'),
  /** The client-ssl profile whose certificate and key are replaced (atomically, in a transaction). */
  client_ssl_profile: str().regex(/^(\/[A-Za-z0-9_.-]+\/)?[A-Za-z0-9_.-]{1,255}$/, 'must be a client-ssl profile name'),
  /** CA bundle that signs the iControl REST certificate (appliances often use a private CA). */
  ca_cert_path: absolutePath().optional(),
});

/** Agentless Linux/Unix host over SSH/SFTP (a proxy agent connects). */
export const sshConfig = targetConfig(
  {
    host: host(),
    port: port().optional(),
    username: text(64),
    private_key: secretPem(/(OPENSSH |RSA |EC |ENCRYPTED )?PRIVATE KEY/, 'private key').optional(),
    private_key_passphrase: secret(1024).optional(),
    password: secret(1024).optional(),
    /**
     * Pins the server's host key: `SHA256:<base64>` as ssh-keygen -lf prints it. Required to
     * deploy (there is no trust-on-first-use): without it the agent refuses the connection and
     * its error names the fingerprint the host presented, for the operator to check and pin.
     */
    host_key_fingerprint: str()
      .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'must be a SHA256:<base64> host key fingerprint')
      .optional(),
    cert_path: absolutePath(),
    key_path: absolutePath(),
    chain_path: absolutePath().optional(),
    key_file_mode: fileMode().optional(),
    /** Run the file writes and the reload through sudo. Not supported yet: a deployment refuses it. */
    use_sudo: bool().optional(),
    /**
     * Remote commands, run over SSH exec (argv quoted for the remote POSIX shell). A failing
     * validate or reload restores every written file. No defaults: without them files are only written.
     */
    validate_command: argv().optional(),
    reload_command: argv().optional(),
  },
  (v, ctx) => {
    if (v.private_key !== undefined && v.password !== undefined) {
      ctx.issue('password', 'use either private_key or password, not both');
    }
    if (v.private_key === undefined && v.password === undefined) {
      ctx.issue('private_key', 'is required unless password is given');
    }
    if (v.private_key_passphrase !== undefined && v.private_key === undefined) {
      ctx.issue('private_key_passphrase', 'is only used with private_key');
    }
    distinctPaths(v, ctx, ['cert_path', 'key_path', 'chain_path']);
  },
);

/** Java keystore (JKS or PKCS#12) through keytool. */
export const javaKeystoreConfig = targetConfig({
  keystore_path: absolutePath(),
  keystore_type: oneOf(['JKS', 'PKCS12'] as const),
  /** keytool requires at least 6 characters. */
  keystore_password: secret(1024, { test: (p) => p.length >= 6, message: 'must be at least 6 characters (keytool)' }),
  key_password: secret(1024, {
    test: (p) => p.length >= 6,
    message: 'must be at least 6 characters (keytool)',
  }).optional(),
  alias: str().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'must be 1-128 letters, digits, . _ -'),
  keytool_path: absolutePath().optional(),
  reload_command: argv().optional(),
});

/** A `kubernetes.io/tls` Secret; in-cluster service account unless a kubeconfig is given. */
export const kubernetesSecretsConfig = targetConfig({
  namespace: dnsLabel(),
  secret_name: dnsSubdomain(),
  kubeconfig: secret(262_144, {
    test: (k) => /(^|\n)\s*(apiVersion|clusters)\s*:/.test(k),
    message: 'must be a kubeconfig document (YAML with apiVersion/clusters)',
  }).optional(),
  context: text(253).optional(),
  /** Also write ca.crt (the issuing chain). */
  include_ca: bool().optional(),
  labels: stringMap().optional(),
  annotations: stringMap().optional(),
});

/** AWS Certificate Manager import (re-import keeps the ARN). */
export const awsAcmConfig = targetConfig(
  {
    region: awsRegion(),
    /** Re-import into this certificate; a new one is imported when absent. */
    certificate_arn: awsArn(
      'acm',
      /certificate\/[0-9a-f-]{36}/,
      'arn:aws:acm:eu-west-1:123456789012:certificate/<uuid>',
    ).optional(),
    tags: stringMap(50).optional(),
    access_key_id: awsAccessKeyId().optional(),
    secret_access_key: secret(256).optional(),
    session_token: secret(4096).optional(),
    role_arn: iamRoleArn().optional(),
  },
  (v, ctx) => awsCredentials(v, ctx.issue),
);

const AZURE_VAULT_HOST = /^[a-z0-9-]{3,24}\.vault\.(azure\.net|azure\.cn|usgovcloudapi\.net|microsoftazure\.de)$/i;

/** Azure Key Vault certificate import; managed identity unless a client secret is given. */
export const azureKeyVaultConfig = targetConfig(
  {
    vault_url: httpsUrl().refine((u) => {
      try {
        return AZURE_VAULT_HOST.test(new URL(u).hostname);
      } catch {
        return false;
      }
    }, 'must be a Key Vault URL such as https://<name>.vault.azure.net'),
    certificate_name: str().regex(/^[0-9a-zA-Z-]{1,127}$/, 'must be 1-127 letters, digits and -'),
    tenant_id: uuid().optional(),
    client_id: uuid().optional(),
    client_secret: secret(1024).optional(),
  },
  (v, ctx) => {
    if (v.client_secret !== undefined) {
      for (const f of ['tenant_id', 'client_id'] as const) {
        if (v[f] === undefined) ctx.issue(f, 'is required with client_secret');
      }
    }
  },
);

export const TARGET_CONFIGS: Record<TargetType, ConfigSpec> = {
  [TargetType.NGINX]: nginxConfig,
  [TargetType.Apache]: apacheConfig,
  [TargetType.HAProxy]: haproxyConfig,
  [TargetType.Traefik]: traefikConfig,
  [TargetType.Caddy]: caddyConfig,
  [TargetType.Envoy]: envoyConfig,
  [TargetType.Postfix]: postfixConfig,
  [TargetType.Dovecot]: dovecotConfig,
  [TargetType.IIS]: iisConfig,
  [TargetType.F5]: f5Config,
  [TargetType.SSH]: sshConfig,
  [TargetType.WinCertStore]: winCertStoreConfig,
  [TargetType.JavaKeystore]: javaKeystoreConfig,
  [TargetType.KubernetesSecrets]: kubernetesSecretsConfig,
  [TargetType.AWSACM]: awsAcmConfig,
  [TargetType.AzureKeyVault]: azureKeyVaultConfig,
};
