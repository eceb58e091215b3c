import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Gauge } from 'prom-client';
import type { DataSource } from 'typeorm';
import { MetricsService } from '../metrics/metrics.service';

/** The windows of certctl_certificates_expiring (label values). */
export const EXPIRY_WINDOWS = ['7d', '30d'] as const;
export type ExpiryWindow = (typeof EXPIRY_WINDOWS)[number];

/**
 * Live certificates (not archived, revoked or already expired) whose current version expires
 * within 7 and 30 days: the dashboard summary's cert_expiring rule. 7d is what the Helm
 * chart's alert reads (that close to expiry, the usual 30-day renewal has been missed); 30d
 * matches the dashboard. One aggregate over the expires_at index per scrape, so every replica
 * reports the same current value and nothing lives in process memory.
 */
export async function countExpiring(ds: DataSource): Promise<Record<ExpiryWindow, number>> {
  const rows: { d7: number; d30: number }[] = await ds.query(
    `SELECT count(*) FILTER (WHERE expires_at < now() + interval '7 days')::int AS d7,
            count(*)::int AS d30
       FROM managed_certificates
      WHERE archived_at IS NULL
        AND status NOT IN ('Revoked', 'Expired')
        AND expires_at >= now()
        AND expires_at < now() + interval '30 days'`,
  );
  return { '7d': rows[0]?.d7 ?? 0, '30d': rows[0]?.d30 ?? 0 };
}

/**
 * Certificates still managed (not archived, not revoked) whose current version is past its
 * notAfter, whatever status the scheduler has set yet: the outages a lifecycle platform exists
 * to prevent, so they get a gauge (and an alert) of their own.
 */
export async function countExpired(ds: DataSource): Promise<number> {
  const rows: { n: number }[] = await ds.query(
    `SELECT count(*)::int AS n
       FROM managed_certificates
      WHERE archived_at IS NULL
        AND status <> 'Revoked'
        AND expires_at < now()`,
  );
  return rows[0]?.n ?? 0;
}

/**
 * Registers certctl_certificates_expiring{window} and certctl_certificates_expired on the app's
 * registry, computed at scrape time.
 */
@Injectable()
export class CertificateExpiryMetrics {
  constructor(@InjectDataSource() ds: DataSource, metrics: MetricsService) {
    new Gauge({
      name: 'certctl_certificates_expiring',
      help: 'Live certificates (not archived, revoked or expired) that expire within the window label (7d, 30d)',
      labelNames: ['window'],
      registers: [metrics.registry],
      async collect() {
        for (const [window, n] of Object.entries(await countExpiring(ds))) this.set({ window }, n);
      },
    });
    new Gauge({
      name: 'certctl_certificates_expired',
      help: 'Managed certificates (not archived or revoked) whose current certificate is past its notAfter',
      registers: [metrics.registry],
      async collect() {
        this.set(await countExpired(ds));
      },
    });
  }
}
