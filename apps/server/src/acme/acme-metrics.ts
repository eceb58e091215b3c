import { Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service';

/**
 * ACME counters on /metrics. Issuances are counted where EST and SCEP count theirs,
 * certctl_enrollments_total{protocol="ACME"} (EnrollmentService); these count what is
 * ACME's own: accounts, orders, challenge validations and revocations.
 */
@Injectable()
export class AcmeMetrics {
  /** event: created, deactivated, key_changed. */
  readonly accounts: Counter<'event'>;
  /** event: created, valid, invalid. */
  readonly orders: Counter<'event'>;
  /** type: http-01, dns-01, tls-alpn-01; result: valid, invalid. */
  readonly challenges: Counter<'type' | 'result'>;
  /** by: account (the ordering account) or certificate_key (signed with the certificate's key). */
  readonly revocations: Counter<'by'>;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.accounts = new Counter({
      name: 'certctl_acme_accounts_total',
      help: 'ACME account events (created, deactivated, key_changed)',
      labelNames: ['event'],
      registers,
    });
    this.orders = new Counter({
      name: 'certctl_acme_orders_total',
      help: 'ACME order events (created, and the final states valid and invalid)',
      labelNames: ['event'],
      registers,
    });
    this.challenges = new Counter({
      name: 'certctl_acme_challenges_total',
      help: 'ACME challenge validations by type and result (challenge mode)',
      labelNames: ['type', 'result'],
      registers,
    });
    this.revocations = new Counter({
      name: 'certctl_acme_revocations_total',
      help: 'Certificates revoked over ACME revokeCert, by who signed the request',
      labelNames: ['by'],
      registers,
    });
  }
}
