import { DomainError, ErrorCode, IssuerType } from '@certctl/domain';
import { derToPem } from '@certctl/pki';
import type { ConnectorCheck } from '../../connector';
import { connectionCheck } from '../remote-ca/connection-check';
import { vaultPkiConfig, type VaultPkiConfig } from '../issuer-configs';
import type {
  IssuanceRequest,
  IssuanceResult,
  IssuerConnector,
  IssuerConnectorContext,
  OrderStatus,
  RevocationRequest,
} from '../issuer-port';
import {
  chainField,
  configuredDuration,
  evenHex,
  issuanceResult,
  lifetimeSeconds,
  pemCertificates,
  requireCsr,
  sanLists,
} from '../remote-ca/issued-certificate';
import { VaultClient } from './vault-client';

const WHAT = 'Vault PKI';

interface VaultSignData {
  certificate?: unknown;
  issuing_ca?: unknown;
  ca_chain?: unknown;
}

/**
 * HashiCorp Vault's PKI secrets engine. Always `/sign/<role>` with our CSR, never
 * `/issue/<role>`: with /issue Vault generates the private key and returns it in the
 * response, so the key would have existed in Vault (and its audit log, unless HMAC'd).
 * The key stays with whoever made the CSR (agent, device, or this server). The role's own
 * max_ttl still applies on Vault's side: Vault shortens a longer ttl to it. The names sent
 * are the managed certificate's; the role needs use_csr_common_name=false and
 * use_csr_sans=false for Vault to take them from the request rather than from the CSR.
 */
export class VaultPkiConnector implements IssuerConnector {
  readonly type = IssuerType.VaultPKI;
  private readonly cfg: VaultPkiConfig;
  private readonly client: VaultClient;

  constructor(ctx: Pick<IssuerConnectorContext, 'config'>) {
    this.cfg = vaultPkiConfig.schema.parse(ctx.config);
    this.client = new VaultClient(this.cfg);
  }

  async issue(req: IssuanceRequest): Promise<IssuanceResult> {
    const csr = requireCsr(req, WHAT);
    const sans = sanLists(req);
    const ttl = lifetimeSeconds(req, configuredDuration(this.cfg.ttl));
    const body: Record<string, unknown> = {
      csr: derToPem(csr.der, 'CERTIFICATE REQUEST'),
      common_name: req.commonName,
      format: 'pem',
    };
    const altNames = [...sans.dns, ...sans.email];
    if (altNames.length) body.alt_names = altNames.join(',');
    if (sans.ip.length) body.ip_sans = sans.ip.join(',');
    if (sans.uri.length) body.uri_sans = sans.uri.join(',');
    if (ttl !== undefined) body.ttl = `${ttl}s`;
    const res = await this.client.call('POST', this.client.pkiPath(`sign/${this.cfg.role}`), body);
    const data = (res.json as { data?: VaultSignData } | undefined)?.data;
    if (typeof data?.certificate !== 'string') {
      throw new DomainError(ErrorCode.Unavailable, `${WHAT} sign answered without data.certificate`);
    }
    return issuanceResult(data.certificate, chainField(data.ca_chain, data.issuing_ca), csr.spkiDer, WHAT);
  }

  renew(req: IssuanceRequest): Promise<IssuanceResult> {
    return this.issue(req);
  }

  /** Vault takes the serial as colon-separated hex pairs (`17:a3:...`), as it lists them. */
  async revoke(req: RevocationRequest): Promise<void> {
    const pairs = evenHex(req.serialHex).match(/../g) ?? [];
    await this.client.call('POST', this.client.pkiPath('revoke'), { serial_number: pairs.join(':') });
  }

  async getCaCertPem(): Promise<string> {
    const res = await this.client.callPublic(this.client.pkiPath('ca/pem'));
    const [ca] = pemCertificates(res.text);
    if (!ca)
      throw new DomainError(
        ErrorCode.Unavailable,
        `${WHAT} ${this.client.pkiPath('ca/pem')} returned no PEM certificate`,
      );
    return ca;
  }

  async getOrderStatus(orderId: string): Promise<OrderStatus> {
    return { state: 'failed', message: `Vault PKI issues synchronously; there is no order ${orderId}` };
  }

  /** The connection test: the mount answers with its CA, and the credentials are accepted. */
  check(): Promise<ConnectorCheck> {
    return connectionCheck(async () => {
      await this.getCaCertPem();
      const auth = await this.client.checkAuth();
      return { ok: true, message: `Vault PKI mount ${this.cfg.mount} reachable; ${auth}` };
    });
  }
}
