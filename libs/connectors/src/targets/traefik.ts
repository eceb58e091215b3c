import { TargetType } from '@certctl/domain';
import type { ConfigObject } from '../config/spec';
import { CERT_FILE_MODE, deployFiles } from './deploy-files';
import { checkDeployMaterial, parseTargetConfig, pemFileSet } from './pem-file-targets';
import { traefikConfig } from './target-configs';
import type { DeployContext, DeployMaterial, DeployResult, TargetConnector, VerifyEndpoint } from './target-port';
import { verifyEndpointFrom } from './verify-endpoint';

/**
 * The file provider's dynamic configuration naming the files. Paths are written as
 * double-quoted scalars (JSON string syntax is valid YAML), so no character in a path can
 * change the document's structure. No timestamp: the same deployment yields the same bytes.
 */
export function traefikDynamicConfig(targetId: string, certFile: string, keyFile: string): string {
  return [
    `# Written by certctl for target ${JSON.stringify(targetId)}; rewritten on every deployment.`,
    'tls:',
    '  certificates:',
    `    - certFile: ${JSON.stringify(certFile)}`,
    `      keyFile: ${JSON.stringify(keyFile)}`,
    '',
  ].join('\n');
}

/**
 * Traefik (file provider): Traefik watches its files and reloads by itself, so there is no
 * validate or reload command. The dynamic configuration is written last, once the
 * certificate and key it names are in place.
 */
export const traefikConnector: TargetConnector = {
  type: TargetType.Traefik,

  async deploy(material: DeployMaterial, ctx: DeployContext): Promise<DeployResult> {
    const c = parseTargetConfig(TargetType.Traefik, traefikConfig, ctx.config);
    checkDeployMaterial(material);
    const files = pemFileSet(c, material);
    if (c.dynamic_config_path !== undefined) {
      files.push({
        path: c.dynamic_config_path,
        bytes: traefikDynamicConfig(ctx.targetId, c.cert_path, c.key_path),
        mode: CERT_FILE_MODE,
        owner: c.file_owner,
        group: c.file_group,
      });
    }
    return deployFiles({ files, log: ctx.log, signal: ctx.signal });
  },

  verifyEndpoint(config: ConfigObject): VerifyEndpoint | undefined {
    return verifyEndpointFrom(config);
  },
};
