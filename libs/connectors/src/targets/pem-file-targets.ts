import { createPrivateKey, X509Certificate } from 'node:crypto';
import { TargetType } from '@certctl/domain';
import type { z } from 'zod';
import { checkConfig, type ConfigObject, type ConfigSpec } from '../config/spec';
import { CERT_FILE_MODE, KEY_FILE_MODE, deployFiles, type DeployFile } from './deploy-files';
import { apacheConfig, dovecotConfig, nginxConfig, postfixConfig } from './target-configs';
import {
  DeployError,
  type DeployContext,
  type DeployMaterial,
  type DeployResult,
  type TargetConnector,
  type VerifyEndpoint,
} from './target-port';
import { verifyEndpointFrom } from './verify-endpoint';

/** PEM blocks joined one after the other, each ending with exactly one newline. */
export function joinPem(...parts: string[]): string {
  return parts
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => `${p}\n`)
    .join('');
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Refuses material a server would choke on, before any file is touched: a certificate,
 * chain block or key that does not parse, or a key that does not belong to the certificate.
 * (`apachectl configtest` does not load certificates: a mismatched key would only show at the
 * graceful restart, which then stops Apache.)
 */
export function checkDeployMaterial(m: DeployMaterial): void {
  const refuse = (why: string): never => {
    throw new DeployError(`refusing to deploy: ${why}; nothing was written`, 'validate', true);
  };
  let cert: X509Certificate | undefined;
  try {
    cert = new X509Certificate(m.certPem);
  } catch {
    refuse('the certificate is not a PEM certificate');
  }
  const chain = m.chainPem.match(PEM_CERT) ?? [];
  if (m.chainPem.trim() !== '' && chain.length === 0) refuse('the chain holds no PEM certificate');
  chain.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch {
      refuse(`chain certificate ${i + 1} does not parse`);
    }
  });
  let matches = false;
  try {
    matches = cert?.checkPrivateKey(createPrivateKey(m.keyPem)) ?? false;
  } catch {
    refuse('the private key is not an unencrypted PEM key');
  }
  if (!matches) refuse('the private key does not belong to the certificate');
}

/** The configuration parsed with its type's schema; a bad one fails before anything is touched. */
export function parseTargetConfig<S extends ConfigSpec>(
  type: TargetType,
  spec: S,
  config: ConfigObject,
): z.output<S['schema']> {
  const checked = checkConfig(spec, config, 'config');
  if (!checked.ok) {
    throw new DeployError(`invalid ${type} target configuration: ${checked.issues.join('; ')}`, 'write', true);
  }
  return spec.schema.parse(checked.config) as z.output<S['schema']>;
}

/** The fields shared by targets that take separate certificate, chain and key files. */
export interface PemFilesConfig {
  cert_path: string;
  key_path: string;
  chain_path?: string;
  file_owner?: string;
  file_group?: string;
  key_file_mode?: string;
}

/**
 * cert_path, chain_path and key_path. The chain is appended to cert_path when `fullchain`
 * (by default: when there is no chain_path, so a client still gets the intermediates).
 */
export function pemFileSet(c: PemFilesConfig, m: DeployMaterial, fullchain?: boolean): DeployFile[] {
  const withChain = fullchain ?? c.chain_path === undefined;
  const owner = { owner: c.file_owner, group: c.file_group };
  const files: DeployFile[] = [
    {
      path: c.cert_path,
      bytes: withChain ? joinPem(m.certPem, m.chainPem) : joinPem(m.certPem),
      mode: CERT_FILE_MODE,
      ...owner,
    },
  ];
  if (c.chain_path !== undefined) {
    files.push({ path: c.chain_path, bytes: joinPem(m.chainPem), mode: CERT_FILE_MODE, ...owner });
  }
  files.push({
    path: c.key_path,
    bytes: joinPem(m.keyPem),
    mode: c.key_file_mode !== undefined ? parseInt(c.key_file_mode, 8) : KEY_FILE_MODE,
    forceMode: c.key_file_mode !== undefined,
    ...owner,
  });
  return files;
}

interface Defaults {
  validate: readonly string[];
  reload: readonly string[];
}

/**
 * Targets that read separate PEM files and are told to reload by a command: NGINX, Apache
 * httpd, Postfix, Dovecot. The configured commands win over the type's defaults.
 */
export class PemFilesTargetConnector<
  C extends PemFilesConfig & { validate_command?: string[]; reload_command?: string[] },
> implements TargetConnector {
  constructor(
    readonly type: TargetType,
    private readonly spec: ConfigSpec & { schema: z.ZodType<C> },
    private readonly defaults: Defaults,
    private readonly fullchain: (config: C) => boolean | undefined = () => undefined,
  ) {}

  async deploy(material: DeployMaterial, ctx: DeployContext): Promise<DeployResult> {
    const c = parseTargetConfig(this.type, this.spec, ctx.config);
    checkDeployMaterial(material);
    return deployFiles({
      files: pemFileSet(c, material, this.fullchain(c)),
      validate: c.validate_command ?? this.defaults.validate,
      reload: c.reload_command ?? this.defaults.reload,
      log: ctx.log,
      signal: ctx.signal,
    });
  }

  verifyEndpoint(config: ConfigObject): VerifyEndpoint | undefined {
    return verifyEndpointFrom(config);
  }
}

export const nginxConnector = new PemFilesTargetConnector(
  TargetType.NGINX,
  nginxConfig,
  { validate: ['nginx', '-t'], reload: ['nginx', '-s', 'reload'] },
  (c) => c.fullchain,
);

export const apacheConnector = new PemFilesTargetConnector(TargetType.Apache, apacheConfig, {
  validate: ['apachectl', 'configtest'],
  reload: ['apachectl', 'graceful'],
});

export const postfixConnector = new PemFilesTargetConnector(TargetType.Postfix, postfixConfig, {
  validate: ['postfix', 'check'],
  reload: ['postfix', 'reload'],
});

export const dovecotConnector = new PemFilesTargetConnector(TargetType.Dovecot, dovecotConfig, {
  validate: ['doveconf', '-n'],
  reload: ['doveadm', 'reload'],
});
