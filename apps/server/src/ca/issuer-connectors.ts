import { Inject, Injectable } from '@nestjs/common';
import { conflict, IssuerType } from '@certctl/domain';
import { ISSUER_CONNECTORS, type IssuerConnector, type IssuerConnectorRegistry } from '@certctl/connectors';
import { AppConfig, pkiPublicBaseUrl } from '../config/config.schema';
import { CaStore, type IssuerForCa, type LoadedCa } from './ca-store';

export interface ResolvedConnector {
  issuer: IssuerForCa;
  connector: IssuerConnector;
  /** The signing CA when this server holds it (Local CA). */
  ca?: LoadedCa;
}

/** Builds the connector of an issuer row: the registry's factory with the issuer's config (and CA). */
@Injectable()
export class IssuerConnectors {
  constructor(
    @Inject(ISSUER_CONNECTORS) private readonly registry: IssuerConnectorRegistry,
    private readonly cas: CaStore,
    private readonly config: AppConfig,
  ) {}

  /** The connector that issues new certificates for `issuerId` (disabled issuers refuse: 409). */
  async forIssuance(issuerId: string): Promise<ResolvedConnector> {
    const issuer = await this.cas.issuer(issuerId);
    if (!issuer.enabled) throw conflict(`issuer ${issuerId} is disabled`);
    const ca = issuer.type === IssuerType.LocalCA ? await this.cas.issuing(issuer) : undefined;
    return { issuer, ca, connector: this.build(issuer, ca) };
  }

  /** The connector of one CA of a Local CA issuer (CRL, OCSP: signing for what that CA issued). */
  async forCa(caId: string): Promise<ResolvedConnector> {
    const ca = await this.cas.load(caId);
    const issuer = await this.cas.issuer(ca.row.issuer_id);
    return { issuer, ca, connector: this.build(issuer, ca) };
  }

  /**
   * The connector to tell about a revocation: the signing CA's when this server holds it,
   * else the issuer's (disabled issuers are still told: the certificate exists).
   */
  async forRevocation(issuerId: string, caId: string | null): Promise<ResolvedConnector> {
    if (caId) return this.forCa(caId);
    const issuer = await this.cas.issuer(issuerId);
    return { issuer, connector: this.build(issuer, undefined) };
  }

  /**
   * The connector that collects a pending order of an asynchronous CA: the order was placed
   * while the issuer was enabled, so a disabled issuer still delivers what it was asked for.
   */
  async forOrder(issuerId: string): Promise<ResolvedConnector> {
    const issuer = await this.cas.issuer(issuerId);
    return { issuer, connector: this.build(issuer, undefined) };
  }

  private build(issuer: IssuerForCa, ca: LoadedCa | undefined): IssuerConnector {
    const factory = this.registry.get(issuer.type as IssuerType);
    if (!factory) throw conflict(`issuer ${issuer.id}: the ${issuer.type} connector is not available yet`);
    return factory({
      issuerId: issuer.id,
      config: issuer.config,
      publicUrl: pkiPublicBaseUrl(this.config),
      urlId: ca?.urlId ?? issuer.id,
      ca: ca?.signer,
    });
  }
}
