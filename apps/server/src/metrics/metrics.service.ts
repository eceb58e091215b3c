import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** One Prometheus registry per app instance (tests start several in one process). */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  /** The listener's certificate hot reload (tls/server-tls-reloader.ts): reloaded or rejected. */
  readonly serverTlsReloads: Counter<'result'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'certctl_' });
    this.httpDuration = new Histogram({
      name: 'certctl_http_request_duration_seconds',
      help: 'HTTP request duration by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.serverTlsReloads = new Counter({
      name: 'certctl_server_tls_reloads_total',
      help: 'Changed server TLS certificate files: reloaded, or rejected (unusable pair; the previous certificate stays)',
      labelNames: ['result'],
      registers: [this.registry],
    });
    // Both series exist from the start, so increase() sees the first rejection.
    for (const result of ['reloaded', 'rejected']) this.serverTlsReloads.inc({ result }, 0);
  }
}
