import { IssuerType } from '@certctl/domain';
import { checkConfig, type ConfigObject, type ConfigSpec } from '../config/spec';
import type { ConnectorCheck } from '../connector';
import { ISSUER_CONFIGS, localCaConfig } from './issuer-configs';
import { checkLocalCa } from './local-ca';
import { LocalCaConnector } from './local-ca-connector';
import type { IssuerConnectorFactory, IssuerConnectorRegistry } from './issuer-port';

/** The config schema and secret fields of an issuer type. */
export function issuerConfigSpec(type: IssuerType): ConfigSpec {
  return ISSUER_CONFIGS[type];
}

/**
 * Runs the issuer connector's ValidateConfig on a full (unsealed) configuration. Only
 * connectors that exist answer ok; the others say so instead of pretending.
 */
export async function validateIssuerConnection(type: IssuerType, config: ConfigObject): Promise<ConnectorCheck> {
  const checked = checkConfig(issuerConfigSpec(type), config, 'config');
  if (!checked.ok) return { ok: false, message: `invalid configuration: ${checked.issues.join('; ')}` };
  if (type === IssuerType.LocalCA) return checkLocalCa(localCaConfig.schema.parse(checked.config));
  return { ok: false, message: `${type} connector is not available yet` };
}

/** The issuer connectors this build has, by type (the ISSUER_CONNECTORS provider's value). */
export function issuerConnectorRegistry(): IssuerConnectorRegistry {
  return new Map<IssuerType, IssuerConnectorFactory>([[IssuerType.LocalCA, (ctx) => new LocalCaConnector(ctx)]]);
}
