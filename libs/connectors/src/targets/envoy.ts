import { TargetType } from '@certctl/domain';
import type { ConfigObject } from '../config/spec';
import { CERT_FILE_MODE, deployFiles } from './deploy-files';
import { parseTargetConfig, pemFileSet } from './pem-file-targets';
import { envoyConfig } from './target-configs';
import type { DeployContext, DeployMaterial, DeployResult, TargetConnector, VerifyEndpoint } from './target-port';
import { certificateFingerprint, verifyEndpointFrom } from './verify-endpoint';

/** The type URL of an Envoy v3 TLS secret resource. */
export const ENVOY_SECRET_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

export interface EnvoySdsParams {
  secretName: string;
  certFile: string;
  keyFile: string;
  /** Changes with every new certificate, so the file changes and Envoy re-reads the files it names. */
  versionInfo: string;
  /** YAML (block style) when the path ends in .yaml/.yml, else JSON: Envoy picks its parser by extension. */
  format: 'json' | 'yaml';
}

/**
 * The file-based SDS resource Envoy watches (`path_config_source`): a DiscoveryResponse
 * with one `tls_certificate` secret naming the certificate chain and key files. The key
 * stays in its own 0600 file; this document names it and holds no key material. Strings
 * are JSON-quoted in both formats (a JSON string is a valid YAML double-quoted scalar), so
 * no path can change the structure.
 */
export function envoySdsDocument(p: EnvoySdsParams): string {
  const q = (s: string) => JSON.stringify(s);
  if (p.format === 'json') {
    const doc = {
      version_info: p.versionInfo,
      resources: [
        {
          '@type': ENVOY_SECRET_TYPE,
          name: p.secretName,
          tls_certificate: {
            certificate_chain: { filename: p.certFile },
            private_key: { filename: p.keyFile },
          },
        },
      ],
    };
    return `${JSON.stringify(doc, null, 2)}\n`;
  }
  return [
    '# Written by certctl; rewritten on every deployment.',
    `version_info: ${q(p.versionInfo)}`,
    'resources:',
    `- "@type": ${q(ENVOY_SECRET_TYPE)}`,
    `  name: ${q(p.secretName)}`,
    '  tls_certificate:',
    '    certificate_chain:',
    `      filename: ${q(p.certFile)}`,
    '    private_key:',
    `      filename: ${q(p.keyFile)}`,
    '',
  ].join('\n');
}

/**
 * Envoy: the certificate chain (leaf + intermediates: Envoy's `certificate_chain` is one
 * file) and the key, plus, with sds_config_path, the SDS resource that points at them.
 * Every file is replaced atomically (temporary file + rename), which is what Envoy's file
 * watch needs: it reacts to the rename of the SDS file and never sees a half-written one.
 * The SDS file is written last, after the files it names. No default commands: with SDS,
 * Envoy reloads by itself; otherwise configure reload_command (e.g. a hot restart).
 */
export const envoyConnector: TargetConnector = {
  type: TargetType.Envoy,

  async deploy(material: DeployMaterial, ctx: DeployContext): Promise<DeployResult> {
    const c = parseTargetConfig(TargetType.Envoy, envoyConfig, ctx.config);
    const files = pemFileSet(c, material, true);
    if (c.sds_config_path !== undefined && c.sds_secret_name !== undefined) {
      files.push({
        path: c.sds_config_path,
        bytes: envoySdsDocument({
          secretName: c.sds_secret_name,
          certFile: c.cert_path,
          keyFile: c.key_path,
          versionInfo: certificateFingerprint(material.certPem),
          format: /\.ya?ml$/i.test(c.sds_config_path) ? 'yaml' : 'json',
        }),
        mode: CERT_FILE_MODE,
        owner: c.file_owner,
        group: c.file_group,
      });
    }
    return deployFiles({
      files,
      validate: c.validate_command,
      reload: c.reload_command,
      log: ctx.log,
      signal: ctx.signal,
    });
  },

  verifyEndpoint(config: ConfigObject): VerifyEndpoint | undefined {
    return verifyEndpointFrom(config);
  },
};
