import { IssuerType } from '@certctl/domain';
import { checkConfig, type ConfigObject, type ConfigSpec } from '../config/spec';
import type { ConnectorCheck } from '../connector';
import { AcmeConnector } from './acme/acme-connector';
import { AdcsConnector } from './adcs/adcs-connector';
import { checkAcme } from './acme/acme-check';
import { AwsPcaConnector } from './aws-pca/aws-pca-connector';
import type { AcmeConnectorDeps } from './acme/acme-deps';
import { DigiCertConnector } from './digicert/digicert-connector';
import { EjbcaConnector } from './ejbca/ejbca-connector';
import { EntrustConnector } from './entrust/entrust-connector';
import { GlobalSignConnector } from './globalsign/globalsign-connector';
import { GoogleCasConnector } from './google-cas/google-cas-connector';
import { acmeConfig, ISSUER_CONFIGS, localCaConfig } from './issuer-configs';
import { checkLocalCa } from './local-ca';
import { LocalCaConnector } from './local-ca-connector';
import { OpenSslConnector } from './openssl/openssl-connector';
import { SectigoConnector } from './sectigo/sectigo-connector';
import { StepCaConnector } from './stepca/stepca-connector';
import { VaultPkiConnector } from './vault/vault-pki-connector';
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
  if (type === IssuerType.ACME) return checkAcme(acmeConfig.schema.parse(checked.config));
  if (type === IssuerType.VaultPKI) return new VaultPkiConnector({ config: checked.config }).check();
  if (type === IssuerType.StepCA) return new StepCaConnector({ config: checked.config }).check();
  if (type === IssuerType.OpenSSL) return new OpenSslConnector({ config: checked.config }).check();
  if (type === IssuerType.DigiCert) return new DigiCertConnector({ config: checked.config }).check();
  if (type === IssuerType.Sectigo) return new SectigoConnector({ config: checked.config }).check();
  if (type === IssuerType.EJBCA) return new EjbcaConnector({ config: checked.config }).check();
  if (type === IssuerType.Entrust) return new EntrustConnector({ config: checked.config }).check();
  if (type === IssuerType.GlobalSign) return new GlobalSignConnector({ config: checked.config }).check();
  if (type === IssuerType.GoogleCAS) return new GoogleCasConnector({ config: checked.config }).check();
  if (type === IssuerType.AWSACMPCA) return new AwsPcaConnector({ config: checked.config }).check();
  if (type === IssuerType.ADCS) return new AdcsConnector({ config: checked.config }).check();
  // Every type has a connector now; kept for a type added to the enum before its connector.
  return { ok: false, message: `${String(type)} connector is not available yet` };
}

/** What connectors need from the server that runs them. */
export interface IssuerConnectorDeps {
  /** ACME: account storage, the http-01 responder and the issued-certificate lookup. */
  acme?: AcmeConnectorDeps;
}

/** The issuer connectors this build has, by type (the ISSUER_CONNECTORS provider's value). */
export function issuerConnectorRegistry(deps: IssuerConnectorDeps = {}): IssuerConnectorRegistry {
  const registry = new Map<IssuerType, IssuerConnectorFactory>([
    [IssuerType.LocalCA, (ctx) => new LocalCaConnector(ctx)],
    [IssuerType.VaultPKI, (ctx) => new VaultPkiConnector(ctx)],
    [IssuerType.StepCA, (ctx) => new StepCaConnector(ctx)],
    [IssuerType.OpenSSL, (ctx) => new OpenSslConnector(ctx)],
    [IssuerType.DigiCert, (ctx) => new DigiCertConnector(ctx)],
    [IssuerType.Sectigo, (ctx) => new SectigoConnector(ctx)],
    [IssuerType.EJBCA, (ctx) => new EjbcaConnector(ctx)],
    [IssuerType.Entrust, (ctx) => new EntrustConnector(ctx)],
    [IssuerType.GlobalSign, (ctx) => new GlobalSignConnector(ctx)],
    [IssuerType.GoogleCAS, (ctx) => new GoogleCasConnector(ctx)],
    [IssuerType.AWSACMPCA, (ctx) => new AwsPcaConnector(ctx)],
    [IssuerType.ADCS, (ctx) => new AdcsConnector(ctx)],
  ]);
  const acme = deps.acme;
  if (acme) registry.set(IssuerType.ACME, (ctx) => new AcmeConnector(ctx, acme));
  return registry;
}
