import { DomainError, ErrorCode, IssuerType, invalid } from '@certctl/domain';
import { CRL_REASON_CODES, derToPem } from '@certctl/pki';
import type { ConnectorCheck } from '../../connector';
import { connectionCheck } from '../remote-ca/connection-check';
import { stepCaConfig, type StepCaConfig } from '../issuer-configs';
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
  requireCsr,
  sanLists,
} from '../remote-ca/issued-certificate';
import { StepCaClient } from './stepca-client';

const WHAT = 'step-ca';

const reasonCodes = new Map(Object.entries(CRL_REASON_CODES).map(([k, v]) => [k.toLowerCase(), v]));

/**
 * Smallstep step-ca through its native API with a JWK provisioner: `POST /1.0/sign` with
 * our CSR and a one-time token naming the certificate's CN and SANs (step-ca checks that
 * the CSR asks for exactly those names), `POST /1.0/revoke` (passive revocation, token
 * subject = the serial). The provisioner's own claims (maxTLSCertDuration) still bound the
 * lifetime on step-ca's side.
 */
export class StepCaConnector implements IssuerConnector {
  readonly type = IssuerType.StepCA;
  private readonly cfg: StepCaConfig;
  private readonly client: StepCaClient;

  constructor(ctx: Pick<IssuerConnectorContext, 'config'>) {
    this.cfg = stepCaConfig.schema.parse(ctx.config);
    this.client = new StepCaClient(this.cfg);
  }

  async issue(req: IssuanceRequest): Promise<IssuanceResult> {
    const csr = requireCsr(req, WHAT);
    const s = sanLists(req);
    const sans = [...new Set([...s.dns, ...s.ip, ...s.email, ...s.uri])];
    const ttl = lifetimeSeconds(req, configuredDuration(this.cfg.validity));
    const body: Record<string, unknown> = {
      csr: derToPem(csr.der, 'CERTIFICATE REQUEST'),
      ott: await this.client.oneTimeToken('/1.0/sign', req.commonName, sans),
    };
    if (ttl !== undefined) body.notAfter = `${ttl}s`;
    const res = await this.client.call('POST', '/1.0/sign', body);
    const answer = res.json as { crt?: unknown; ca?: unknown; certChain?: unknown } | undefined;
    if (typeof answer?.crt !== 'string') {
      throw new DomainError(ErrorCode.Unavailable, `${WHAT} /1.0/sign answered without crt`);
    }
    return issuanceResult(answer.crt, chainField(answer.certChain, answer.ca), csr.spkiDer, WHAT);
  }

  renew(req: IssuanceRequest): Promise<IssuanceResult> {
    return this.issue(req);
  }

  /** Passive revocation (step-ca records it; its CRL, when enabled, lists it). */
  async revoke(req: RevocationRequest): Promise<void> {
    const serial = BigInt(`0x${evenHex(req.serialHex)}`).toString(10);
    const reasonCode = reasonCodes.get(req.reason.toLowerCase());
    if (reasonCode === undefined)
      throw invalid(`revocation reason ${JSON.stringify(req.reason)} is not an RFC 5280 reason`);
    await this.client.call('POST', '/1.0/revoke', {
      serial,
      ott: await this.client.oneTimeToken('/1.0/revoke', serial),
      reasonCode,
      reason: req.reason,
      passive: true,
    });
  }

  /** The root this connector trusts (pinned, or from the configured bundle). */
  getCaCertPem(): Promise<string> {
    return this.client.trustedRoot();
  }

  async getOrderStatus(orderId: string): Promise<OrderStatus> {
    return { state: 'failed', message: `step-ca issues synchronously; there is no order ${orderId}` };
  }

  /** The connection test: pinned root, /health, and a provisioner key that decrypts. */
  check(): Promise<ConnectorCheck> {
    return connectionCheck(async () => {
      await this.client.trustedRoot();
      const health = await this.client.call('GET', '/health');
      const status = (health.json as { status?: unknown } | undefined)?.status;
      if (status !== 'ok') return { ok: false, message: `${WHAT} /health answered ${JSON.stringify(status)}` };
      const key = await this.client.provisionerKey();
      return {
        ok: true,
        message: `${WHAT} reachable, root verified; provisioner ${this.cfg.provisioner_name} key ${key.kid} (${key.alg}) loaded`,
      };
    });
  }
}
