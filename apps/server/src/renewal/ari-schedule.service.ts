import { Injectable, Logger } from '@nestjs/common';
import { IssuerConnectors } from '../ca/issuer-connectors';
import { AriScheduleRepository, type AriDue, type AriUpdate } from './ari-schedule.repository';
import { ARI_ERROR_POLL_MS, ARI_NO_INFO_POLL_MS, nextAriPollMs, pickRenewalTime } from './renewal-rules';

/** Certificates asked about per renewal-check tick (the rest wait for the next tick). */
export const ARI_BATCH = 200;
/** Requests to CAs in flight at once. */
const ARI_CONCURRENCY = 4;

const LEAF = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

export interface AriRefreshSummary {
  asked: number;
  windows: number;
  noInfo: number;
  errors: number;
}

/**
 * Keeps the ARI windows (RFC 9773) of ACME certificates current, ahead of each renewal
 * check: every certificate whose current version has no window yet, or whose CA's
 * Retry-After has passed, is asked once. The renewal check then reads the stored pick
 * (certificate_renewal_info.renew_at) instead of the threshold window.
 */
@Injectable()
export class AriScheduleService {
  private readonly logger = new Logger(AriScheduleService.name);

  constructor(
    private readonly repo: AriScheduleRepository,
    private readonly connectors: IssuerConnectors,
  ) {}

  async refresh(now: Date, limit = ARI_BATCH): Promise<AriRefreshSummary> {
    const due = await this.repo.due(now, limit);
    const summary: AriRefreshSummary = { asked: due.length, windows: 0, noInfo: 0, errors: 0 };
    const queue = [...due];
    const worker = async () => {
      for (let d = queue.shift(); d; d = queue.shift()) {
        const u = await this.ask(d, now);
        summary[u.kind === 'window' ? 'windows' : u.kind === 'none' ? 'noInfo' : 'errors']++;
        await this.repo.record(d, u);
      }
    };
    await Promise.all(Array.from({ length: Math.min(ARI_CONCURRENCY, due.length) }, worker));
    return summary;
  }

  private async ask(d: AriDue, now: Date): Promise<AriUpdate> {
    const at = (ms: number) => new Date(now.getTime() + ms);
    try {
      const leaf = LEAF.exec(d.pem_chain)?.[0];
      if (!leaf) return { kind: 'none', nextPollAt: at(ARI_NO_INFO_POLL_MS) };
      const { connector } = await this.connectors.forOrder(d.issuer_id);
      const info = connector.renewalInfo ? await connector.renewalInfo(`${leaf}\n`) : undefined;
      if (!info) return { kind: 'none', nextPollAt: at(ARI_NO_INFO_POLL_MS) };
      const start = new Date(info.suggestedWindow.start);
      const end = new Date(info.suggestedWindow.end);
      return {
        kind: 'window',
        start,
        end,
        renewAt: pickRenewalTime(start, end, now),
        explanationUrl: info.explanationURL,
        nextPollAt: at(nextAriPollMs(info.retryAfterSeconds)),
      };
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.logger.warn(`renewal information for ${d.certificate_id} not refreshed: ${message}`);
      return { kind: 'error', message, nextPollAt: at(ARI_ERROR_POLL_MS) };
    }
  }
}
