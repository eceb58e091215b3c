import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { ListResult } from '@certctl/domain';
import { paginate } from '../database/paginate';
import { agentState, type AgentState } from '../agents/agent-state';
import { rowsOf } from '../database/sql';
import {
  DISCOVERED_FIELDS,
  DiscoveredCertificateDto,
  DiscoveryScanDto,
  SCAN_FIELDS,
  type DiscoveredCertificateListQueryDto,
  type DiscoveryScanListQueryDto,
} from './dto/discovery.dto';
import {
  DiscoveredCertificateEntity,
  DiscoveryScanEntity,
  type DiscoverySource,
  type DiscoveryStatus,
  type ScanError,
} from './discovery.entity';

/** One certificate of a report, normalized (the repository writes it as is). */
export interface DiscoveredInput {
  id: string;
  source_path: string;
  format: 'pem' | 'der';
  fingerprint_sha256: string;
  common_name: string;
  sans: string[];
  serial: string;
  issuer_dn: string;
  subject_dn: string;
  not_before: string;
  not_after: string;
  key_algorithm: string;
  key_size: number | null;
  is_ca: boolean;
}

export interface ScanInput {
  id: string;
  agentId: string;
  source: DiscoverySource;
  startedAt: Date;
  finishedAt: Date;
  directories: string[];
  certificatesFound: number;
  errors: ScanError[];
  errorCount: number;
  reportedBy: string;
}

export interface TriageRow {
  id: string;
  status: DiscoveryStatus;
  agent_id: string;
  fingerprint_sha256: string;
  common_name: string;
  sans: string[];
  source_path: string;
  managed_certificate_id: string | null;
}

export interface ManagedCertificateState {
  id: string;
  archived_at: Date | null;
  /** Whether one of its versions is the discovered certificate itself. */
  has_fingerprint: boolean;
}

export interface SummaryCounts {
  total: string;
  unmanaged: string;
  managed: string;
  dismissed: string;
  expiring_soon: string;
  expired: string;
}

export interface AgentSummaryRow {
  agent_id: string;
  agent_name: string | null;
  total: string;
  unmanaged: string;
  managed: string;
  dismissed: string;
  last_scan_at: Date | null;
}

const TRIAGE_COLUMNS = `id, status, agent_id, fingerprint_sha256, common_name, sans, source_path, managed_certificate_id`;

/** Discovery SQL. Multi-row writes run inside the caller's transaction (`m`). */
@Injectable()
export class DiscoveryRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  /** The agent; with `m`, KEY SHARE holds off a concurrent retirement until the transaction ends. */
  async agent(id: string, m?: EntityManager): Promise<AgentState | null> {
    return agentState(m ?? this.ds.manager, id, m !== undefined);
  }

  async insertScan(m: EntityManager, s: ScanInput): Promise<void> {
    await m.query(
      `INSERT INTO discovery_scans
              (id, agent_id, source, started_at, finished_at, directories, certificates_found, error_count, errors,
               reported_by)
       VALUES ($1, $2, $3, $4, $5, $6::text[], $7, $8, $9::jsonb, $10)`,
      [
        s.id,
        s.agentId,
        s.source,
        s.startedAt,
        s.finishedAt,
        s.directories,
        s.certificatesFound,
        s.errorCount,
        JSON.stringify(s.errors),
        s.reportedBy,
      ],
    );
  }

  async setScanNewCount(m: EntityManager, scanId: string, newCertificates: number): Promise<void> {
    await m.query(`UPDATE discovery_scans SET new_certificates = $2 WHERE id = $1`, [scanId, newCertificates]);
  }

  /**
   * Upserts the report's certificates in one statement, deduplicated on (fingerprint,
   * agent, path): a known one keeps its id, status and first_seen, and its last_seen moves.
   * The caller passes rows without duplicate keys, in key order, so two concurrent reports
   * of the same agent lock rows in the same order. Returns how many rows were new.
   */
  async upsertCertificates(
    m: EntityManager,
    agentId: string,
    scanId: string,
    rows: DiscoveredInput[],
  ): Promise<number> {
    if (rows.length === 0) return 0;
    const result = rowsOf<{ inserted: boolean }>(
      await m.query(
        `INSERT INTO discovered_certificates
                (id, agent_id, source_path, source_format, fingerprint_sha256, common_name, sans, serial, issuer_dn,
                 subject_dn, not_before, not_after, key_algorithm, key_size, is_ca, last_scan_id)
         SELECT r.id, $2, r.source_path, r.format, r.fingerprint_sha256, r.common_name, r.sans, r.serial, r.issuer_dn,
                r.subject_dn, r.not_before, r.not_after, r.key_algorithm, r.key_size, r.is_ca, $3
           FROM jsonb_to_recordset($1::jsonb) AS r(
                  id text, source_path text, format text, fingerprint_sha256 text, common_name text, sans text[],
                  serial text, issuer_dn text, subject_dn text, not_before timestamptz, not_after timestamptz,
                  key_algorithm text, key_size integer, is_ca boolean)
         ON CONFLICT ON CONSTRAINT discovered_certificates_dedup_key DO UPDATE
            SET source_format = EXCLUDED.source_format,
                common_name = EXCLUDED.common_name,
                sans = EXCLUDED.sans,
                serial = EXCLUDED.serial,
                issuer_dn = EXCLUDED.issuer_dn,
                subject_dn = EXCLUDED.subject_dn,
                not_before = EXCLUDED.not_before,
                not_after = EXCLUDED.not_after,
                key_algorithm = EXCLUDED.key_algorithm,
                key_size = EXCLUDED.key_size,
                is_ca = EXCLUDED.is_ca,
                last_seen = now(),
                last_scan_id = EXCLUDED.last_scan_id,
                updated_at = now()
         RETURNING (xmax = 0) AS inserted`,
        [JSON.stringify(rows), agentId, scanId],
      ),
    );
    return result.filter((r) => r.inserted).length;
  }

  /** The row, locked for a triage decision. */
  async lockForTriage(m: EntityManager, id: string): Promise<TriageRow | null> {
    const rows = rowsOf<TriageRow>(
      await m.query(`SELECT ${TRIAGE_COLUMNS} FROM discovered_certificates WHERE id = $1 FOR UPDATE`, [id]),
    );
    return rows[0] ?? null;
  }

  async setStatus(
    m: EntityManager,
    id: string,
    status: DiscoveryStatus,
    managedCertificateId: string | null,
  ): Promise<void> {
    await m.query(
      `UPDATE discovered_certificates SET status = $2, managed_certificate_id = $3, updated_at = now() WHERE id = $1`,
      [id, status, managedCertificateId],
    );
  }

  /** The managed certificate to link; KEY SHARE keeps it from being deleted before this commits. */
  async managedCertificate(m: EntityManager, id: string, fingerprint: string): Promise<ManagedCertificateState | null> {
    const rows = rowsOf<ManagedCertificateState>(
      await m.query(
        `SELECT c.id, c.archived_at,
                EXISTS (SELECT 1 FROM certificate_versions v
                         WHERE v.certificate_id = c.id AND v.fingerprint_sha256 = $2) AS has_fingerprint
           FROM managed_certificates c
          WHERE c.id = $1
            FOR KEY SHARE OF c`,
        [id, fingerprint],
      ),
    );
    return rows[0] ?? null;
  }

  async findOne(id: string, m?: EntityManager): Promise<DiscoveredCertificateDto | null> {
    const row = await (m ?? this.ds.manager).getRepository(DiscoveredCertificateEntity).findOneBy({ id });
    return row ? DiscoveredCertificateDto.from(row) : null;
  }

  list(
    q: DiscoveredCertificateListQueryDto,
    fingerprint?: string,
  ): Promise<ListResult<Partial<DiscoveredCertificateDto>>> {
    const qb = this.ds.getRepository(DiscoveredCertificateEntity).createQueryBuilder('d');
    if (q.status) qb.andWhere('d.status = :status', { status: q.status });
    if (q.agent_id) qb.andWhere('d.agent_id = :aid', { aid: q.agent_id });
    if (fingerprint) qb.andWhere('d.fingerprint_sha256 = :fp', { fp: fingerprint });
    if (q.expiring !== undefined) {
      qb.andWhere(`d.not_after <= now() + make_interval(days => :days)`, { days: q.expiring });
    }
    return paginate(qb, q, {
      sortable: {
        created_at: 'd.created_at',
        updated_at: 'd.updated_at',
        first_seen: 'd.first_seen',
        last_seen: 'd.last_seen',
        not_after: { column: 'd.not_after', kind: 'timestamp', nullable: true },
        common_name: { column: 'd.common_name', kind: 'text' },
        status: { column: 'd.status', kind: 'text' },
      },
      defaultSort: '-last_seen',
      fields: DISCOVERED_FIELDS,
      toDto: DiscoveredCertificateDto.from,
    });
  }

  listScans(q: DiscoveryScanListQueryDto): Promise<ListResult<Partial<DiscoveryScanDto>>> {
    const qb = this.ds.getRepository(DiscoveryScanEntity).createQueryBuilder('s');
    if (q.agent_id) qb.andWhere('s.agent_id = :aid', { aid: q.agent_id });
    return paginate(qb, q, {
      sortable: {
        created_at: 's.created_at',
        started_at: 's.started_at',
        finished_at: 's.finished_at',
        certificates_found: { column: 's.certificates_found', kind: 'number' },
      },
      defaultSort: '-created_at',
      fields: SCAN_FIELDS,
      toDto: DiscoveryScanDto.from,
    });
  }

  async summaryCounts(expiringDays: number): Promise<SummaryCounts> {
    const rows = rowsOf<SummaryCounts>(
      await this.ds.query(
        `SELECT count(*) AS total,
                count(*) FILTER (WHERE status = 'Unmanaged') AS unmanaged,
                count(*) FILTER (WHERE status = 'Managed') AS managed,
                count(*) FILTER (WHERE status = 'Dismissed') AS dismissed,
                count(*) FILTER (WHERE status = 'Unmanaged' AND not_after > now()
                                   AND not_after <= now() + make_interval(days => $1)) AS expiring_soon,
                count(*) FILTER (WHERE status = 'Unmanaged' AND not_after <= now()) AS expired
           FROM discovered_certificates`,
        [expiringDays],
      ),
    );
    return rows[0];
  }

  /** Per agent that reported anything: its certificates by status and its latest scan. */
  async summaryByAgent(): Promise<AgentSummaryRow[]> {
    return rowsOf<AgentSummaryRow>(
      await this.ds.query(
        `WITH certs AS (
           SELECT agent_id,
                  count(*) AS total,
                  count(*) FILTER (WHERE status = 'Unmanaged') AS unmanaged,
                  count(*) FILTER (WHERE status = 'Managed') AS managed,
                  count(*) FILTER (WHERE status = 'Dismissed') AS dismissed
             FROM discovered_certificates
            GROUP BY agent_id
         ), scans AS (
           SELECT agent_id, max(finished_at) AS last_scan_at FROM discovery_scans GROUP BY agent_id
         )
         SELECT COALESCE(c.agent_id, s.agent_id) AS agent_id, a.name AS agent_name,
                COALESCE(c.total, 0) AS total, COALESCE(c.unmanaged, 0) AS unmanaged,
                COALESCE(c.managed, 0) AS managed, COALESCE(c.dismissed, 0) AS dismissed,
                s.last_scan_at
           FROM certs c
           FULL JOIN scans s ON s.agent_id = c.agent_id
           LEFT JOIN agents a ON a.id = COALESCE(c.agent_id, s.agent_id)
          ORDER BY 1`,
      ),
    );
  }

  async scanTotals(): Promise<{ scans: string; last_scan_at: Date | null }> {
    const rows = rowsOf<{ scans: string; last_scan_at: Date | null }>(
      await this.ds.query(`SELECT count(*) AS scans, max(finished_at) AS last_scan_at FROM discovery_scans`),
    );
    return rows[0];
  }
}
