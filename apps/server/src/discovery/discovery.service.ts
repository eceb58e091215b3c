import { Injectable } from '@nestjs/common';
import { forbidden, gone, invalid, newId, notFound, type ListResult } from '@certctl/domain';
import type { EntityManager } from 'typeorm';
import { AuditRepository } from '../audit/audit.repository';
import { parseRfc3339, plausibleId } from '../certificates/certificate-input';
import type { Principal } from '../http/request-context';
import { normalizeFingerprint } from '../verification/dto/verification.dto';
import { DiscoveryRepository, type DiscoveredInput } from './discovery.repository';
import { checkDiscoveryId, DISCOVERY_ID_PREFIX, SCAN_ID_PREFIX } from './discovery-ids';
import type {
  DiscoveredCertificateDto,
  DiscoveredCertificateListQueryDto,
  DiscoveryReportDto,
  DiscoveryReportResultDto,
  DiscoveryScanDto,
  DiscoveryScanListQueryDto,
  DiscoverySummaryDto,
} from './dto/discovery.dto';

const DEFAULT_EXPIRING_DAYS = 30;

/** The DTO checked the form; this yields the stored one (hex lower-cased, separators dropped). */
function normalizeRows(body: DiscoveryReportDto): { rows: DiscoveredInput[]; duplicates: number } {
  const byKey = new Map<string, DiscoveredInput>();
  for (const c of body.certificates) {
    const fingerprint = normalizeFingerprint(c.fingerprint_sha256);
    const key = `${fingerprint}\u0000${c.source_path}`;
    if (byKey.has(key)) continue;
    byKey.set(key, {
      id: newId(DISCOVERY_ID_PREFIX),
      source_path: c.source_path,
      format: c.format ?? 'pem',
      fingerprint_sha256: fingerprint,
      common_name: c.common_name ?? '',
      sans: c.sans ?? [],
      serial: (c.serial ?? '').replace(/:/g, '').toLowerCase(),
      issuer_dn: c.issuer_dn ?? '',
      subject_dn: c.subject_dn ?? '',
      not_before: c.not_before,
      not_after: c.not_after,
      key_algorithm: c.key_algorithm ?? '',
      key_size: c.key_size ?? null,
      is_ca: c.is_ca ?? false,
    });
  }
  // Key order = the unique index's order: concurrent reports lock rows in one order (no deadlock).
  const rows = [...byKey.values()].sort((a, b) =>
    a.fingerprint_sha256 === b.fingerprint_sha256
      ? a.source_path < b.source_path
        ? -1
        : a.source_path > b.source_path
          ? 1
          : 0
      : a.fingerprint_sha256 < b.fingerprint_sha256
        ? -1
        : 1,
  );
  return { rows, duplicates: body.certificates.length - rows.length };
}

/**
 * Certificate discovery: agents report what their scans found; the server keeps one row
 * per (fingerprint, agent, path) for operators to triage. Reports are idempotent for the
 * inventory (a re-scan moves last_seen) and each one is recorded as a scan.
 */
@Injectable()
export class DiscoveryService {
  constructor(
    private readonly repo: DiscoveryRepository,
    private readonly audit: AuditRepository,
  ) {}

  /** One report: a scan row, the upserted certificates and one audit event, in one transaction. */
  async report(actor: Principal, agentId: string, body: DiscoveryReportDto): Promise<DiscoveryReportResultDto> {
    if (actor.actorType === 'Agent' && actor.actorId !== agentId) {
      throw forbidden(`an agent may only report its own discoveries (${actor.actorId}), not ${agentId}'s`);
    }
    if (!plausibleId(agentId)) throw notFound('agent', agentId);
    const startedAt = parseRfc3339(body.scan.started_at);
    const finishedAt = parseRfc3339(body.scan.finished_at);
    if (!startedAt || !finishedAt) throw invalid('body.scan: started_at and finished_at must be RFC 3339 date-times');
    if (finishedAt < startedAt) {
      throw invalid(`body.scan.finished_at: ${body.scan.finished_at} is before started_at ${body.scan.started_at}`);
    }
    const { rows } = normalizeRows(body);
    const errors = (body.scan.errors ?? []).map((e) => ({ path: e.path, message: e.message }));
    const source = body.scan.source ?? 'filesystem';
    return this.repo.transaction(async (m) => {
      await this.requireAgent(agentId, m);
      const scanId = newId(SCAN_ID_PREFIX);
      await this.repo.insertScan(m, {
        id: scanId,
        agentId,
        source,
        startedAt,
        finishedAt,
        directories: body.scan.directories ?? [],
        certificatesFound: rows.length,
        errors,
        errorCount: errors.length,
        reportedBy: actor.actorId,
      });
      const fresh = await this.repo.upsertCertificates(m, agentId, scanId, rows);
      await this.repo.setScanNewCount(m, scanId, fresh);
      await this.audit.recordDomain(m, actor, 'discovery_scan_completed', 'discovery_scan', scanId, {
        agent_id: agentId,
        source,
        started_at: startedAt.toISOString(),
        finished_at: finishedAt.toISOString(),
        directories: body.scan.directories ?? [],
        certificates_found: rows.length,
        new_certificates: fresh,
        error_count: errors.length,
      });
      return {
        scan_id: scanId,
        agent_id: agentId,
        certificates_found: rows.length,
        new_certificates: fresh,
        updated_certificates: rows.length - fresh,
        error_count: errors.length,
      };
    });
  }

  list(q: DiscoveredCertificateListQueryDto): Promise<ListResult<Partial<DiscoveredCertificateDto>>> {
    const fingerprint = q.fingerprint_sha256 === undefined ? undefined : normalizeFingerprint(q.fingerprint_sha256);
    return this.repo.list(q, fingerprint);
  }

  async get(id: string): Promise<DiscoveredCertificateDto> {
    checkDiscoveryId(id);
    const row = await this.repo.findOne(id);
    if (!row) throw notFound('discovered certificate', id);
    return row;
  }

  listScans(q: DiscoveryScanListQueryDto): Promise<ListResult<Partial<DiscoveryScanDto>>> {
    return this.repo.listScans(q);
  }

  async summary(expiringDays = DEFAULT_EXPIRING_DAYS): Promise<DiscoverySummaryDto> {
    const [counts, agents, scans] = await Promise.all([
      this.repo.summaryCounts(expiringDays),
      this.repo.summaryByAgent(),
      this.repo.scanTotals(),
    ]);
    return {
      total: Number(counts.total),
      unmanaged: Number(counts.unmanaged),
      managed: Number(counts.managed),
      dismissed: Number(counts.dismissed),
      expiring_soon: Number(counts.expiring_soon),
      expired: Number(counts.expired),
      expiring_days: expiringDays,
      by_agent: agents.map((a) => ({
        agent_id: a.agent_id,
        agent_name: a.agent_name,
        total: Number(a.total),
        unmanaged: Number(a.unmanaged),
        managed: Number(a.managed),
        dismissed: Number(a.dismissed),
        last_scan_at: a.last_scan_at ? a.last_scan_at.toISOString() : null,
      })),
      scans: Number(scans.scans),
      last_scan_at: scans.last_scan_at ? scans.last_scan_at.toISOString() : null,
    };
  }

  /** The agent must exist (404) and be active (410: its signal to stop), as on every agent route. */
  private async requireAgent(agentId: string, m: EntityManager): Promise<void> {
    const agent = await this.repo.agent(agentId, m);
    if (!agent) throw notFound('agent', agentId);
    if (agent.retired_at) {
      throw gone(`agent ${JSON.stringify(agentId)} was retired at ${agent.retired_at.toISOString()}; it should stop`);
    }
  }
}
