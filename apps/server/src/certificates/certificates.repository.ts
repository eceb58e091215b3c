import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { CertificateStatus, type ListResult } from '@certctl/domain';
import { paginate, type SortColumn } from '../database/paginate';
import { rowsOf } from '../database/sql';
import type { CertificateCriteria } from './bulk-selection';
import { parseStatusList } from './certificate-input';
import {
  CertificateVersionEntity,
  ManagedCertificateEntity,
  type CertificateExtras,
  type LatestVersionSummary,
} from './certificate.entity';
import {
  CERTIFICATE_FIELDS,
  CERTIFICATE_VERSION_FIELDS,
  CertificateDeploymentDto,
  CertificateDto,
  CertificateVersionDto,
  latestVersionFields,
  type CertificateListQueryDto,
  type CertificateRef,
  type CertificateVersionListQueryDto,
} from './dto/certificate.dto';

/** The stored, user-editable columns of a managed certificate (snake_case as in the table). */
export interface CertificateRow {
  name: string;
  common_name: string;
  sans: string[];
  environment: string;
  owner_id: string | null;
  team_id: string | null;
  issuer_id: string | null;
  renewal_policy_id: string | null;
  profile_id: string | null;
  agent_id: string | null;
  tags: Record<string, string>;
}

/** What the lock read returns: enough to diff an update and to refuse archived rows. */
export interface LockedCertificate extends CertificateRow {
  id: string;
  status: CertificateStatus;
  archived_at: Date | null;
  target_ids: string[];
}

/** Where each reference must point; `retirable` tables also refuse retired rows. */
const REF_TABLES: Record<CertificateRef, { table: string; noun: string; retirable: boolean }> = {
  owner_id: { table: 'owners', noun: 'owner', retirable: false },
  team_id: { table: 'teams', noun: 'team', retirable: false },
  issuer_id: { table: 'issuers', noun: 'issuer', retirable: false },
  renewal_policy_id: { table: 'renewal_policies', noun: 'renewal policy', retirable: false },
  profile_id: { table: 'certificate_profiles', noun: 'certificate profile', retirable: false },
  agent_id: { table: 'agents', noun: 'agent', retirable: true },
};

export interface RefProblem {
  field: string;
  message: string;
}

/**
 * Sorting by expiry keeps certificates without one (never issued) last in both
 * directions. NULL becomes a sentinel beyond every real notAfter (RFC 5280's 9999-12-31
 * included) ascending, before every one descending, so the keyset stays a plain row
 * comparison that the partial indexes managed_certificates_live_expiry_{asc,desc}_idx
 * answer as an index range: O(page) at any depth instead of scanning the rows before the
 * cursor. The expressions must match those indexes' exactly.
 */
export const EXPIRY_SORT_LAST = `COALESCE(c.expires_at, '10000-01-01T00:00:00Z'::timestamptz)`;
export const EXPIRY_SORT_FIRST = `COALESCE(c.expires_at, '0001-01-01T00:00:00Z'::timestamptz)`;

const CREATED: SortColumn = { column: 'c.created_at', kind: 'timestamp' };
const UPDATED: SortColumn = { column: 'c.updated_at', kind: 'timestamp' };
const COMMON_NAME: SortColumn = { column: 'c.common_name', kind: 'text' };

/** The sort whitelist: certctl's camelCase names and the snake_case field names. */
function certificateSortable(descending: boolean): Record<string, SortColumn> {
  const expires: SortColumn = { column: descending ? EXPIRY_SORT_FIRST : EXPIRY_SORT_LAST, kind: 'timestamp' };
  return {
    notAfter: expires,
    expiresAt: expires,
    expires_at: expires,
    createdAt: CREATED,
    created_at: CREATED,
    updatedAt: UPDATED,
    updated_at: UPDATED,
    commonName: COMMON_NAME,
    common_name: COMMON_NAME,
    name: { column: 'c.name', kind: 'text' },
    status: { column: 'c.status', kind: 'text' },
    environment: { column: 'c.environment', kind: 'text' },
  };
}

const DEFAULT_SORT = '-created_at';
const VERSION_FIELDS = ['serial_number', 'fingerprint_sha256', 'not_before'] as const;

const likeEscape = (s: string): string => s.replace(/[\\%_]/g, '\\$&');

@Injectable()
export class CertificatesRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  /** The certificate as the API shows it: with its target ids and latest version. */
  async findDto(id: string, m: EntityManager = this.ds.manager): Promise<CertificateDto | null> {
    const cert = await m.getRepository(ManagedCertificateEntity).findOneBy({ id });
    if (!cert) return null;
    const extras = await this.extras(m, [id], { targets: true, version: true });
    return CertificateDto.from(cert, extras.get(id));
  }

  /**
   * Target ids and the newest version for a page of certificates: one query each, over
   * the page's ids only (a per-row subquery would also run for every row OFFSET skips).
   */
  private async extras(
    m: EntityManager,
    ids: readonly string[],
    want: { targets: boolean; version: boolean },
  ): Promise<Map<string, CertificateExtras>> {
    const out = new Map<string, CertificateExtras>(ids.map((id) => [id, { targetIds: [], latestVersion: null }]));
    if (ids.length === 0) return out;
    if (want.targets) {
      const rows: { certificate_id: string; target_ids: string[] }[] = await m.query(
        `SELECT certificate_id, array_agg(target_id ORDER BY target_id) AS target_ids
           FROM certificate_target_mappings
          WHERE certificate_id = ANY($1::text[])
          GROUP BY certificate_id`,
        [ids],
      );
      for (const r of rows) out.get(r.certificate_id)!.targetIds = r.target_ids;
    }
    if (want.version) {
      // Index certificate_versions_certificate_idx (certificate_id, created_at, id): one
      // backward probe per certificate.
      const rows: (LatestVersionSummary & { certificate_id: string })[] = await m.query(
        `SELECT c.id AS certificate_id, v.serial_number, v.fingerprint_sha256, v.not_before
           FROM unnest($1::text[]) AS c(id)
           JOIN LATERAL (
                  SELECT serial_number, fingerprint_sha256, not_before
                    FROM certificate_versions
                   WHERE certificate_id = c.id
                   ORDER BY created_at DESC, id DESC
                   LIMIT 1
                ) v ON true`,
        [ids],
      );
      for (const { certificate_id, ...v } of rows) out.get(certificate_id)!.latestVersion = v;
    }
    return out;
  }

  async exists(id: string): Promise<boolean> {
    const rows: unknown[] = await this.ds.query(`SELECT 1 FROM managed_certificates WHERE id = $1`, [id]);
    return rows.length > 0;
  }

  /** Locks the row for the rest of the transaction (update/archive read-modify-write). */
  async lockForUpdate(m: EntityManager, id: string): Promise<LockedCertificate | null> {
    const rows: LockedCertificate[] = await m.query(
      `SELECT c.id, c.name, c.common_name, c.sans, c.environment, c.owner_id, c.team_id, c.issuer_id,
              c.renewal_policy_id, c.profile_id, c.agent_id, c.tags, c.status, c.archived_at,
              ARRAY(SELECT target_id FROM certificate_target_mappings WHERE certificate_id = c.id ORDER BY target_id)
                AS target_ids
         FROM managed_certificates c
        WHERE c.id = $1
          FOR UPDATE`,
      [id],
    );
    return rows[0] ?? null;
  }

  /**
   * Checks that every given reference names an existing row (agents and targets: a
   * non-retired one), one query; `keepTargets` are already mapped and may be retired.
   * Locks the referenced agent and target rows (FOR KEY SHARE / FOR SHARE) so a concurrent
   * retirement waits for this transaction; the foreign keys stay the backstop.
   */
  async checkReferences(
    m: EntityManager,
    refs: Partial<Record<CertificateRef, string | null>>,
    targetIds: readonly string[] | undefined,
    keepTargets: readonly string[] = [],
  ): Promise<RefProblem[]> {
    const parts: string[] = [];
    const params: unknown[] = [];
    const wanted: { field: string; id: string; noun: string; retirable: boolean }[] = [];
    for (const [field, spec] of Object.entries(REF_TABLES) as [CertificateRef, (typeof REF_TABLES)[CertificateRef]][]) {
      const id = refs[field];
      if (id === undefined || id === null) continue;
      params.push(id);
      const retired = spec.retirable ? 'retired_at' : 'NULL::timestamptz';
      parts.push(
        `SELECT '${field}' AS field, id, ${retired} AS retired_at FROM ${spec.table} WHERE id = $${params.length}`,
      );
      wanted.push({ field, id, noun: spec.noun, retirable: spec.retirable });
    }
    if (targetIds?.length) {
      params.push(targetIds);
      parts.push(
        `SELECT 'target_ids' AS field, id, retired_at FROM deployment_targets WHERE id = ANY($${params.length}::text[])`,
      );
      for (const id of targetIds) wanted.push({ field: 'target_ids', id, noun: 'deployment target', retirable: true });
    }
    if (parts.length === 0) return [];
    if (refs.agent_id) await m.query(`SELECT 1 FROM agents WHERE id = $1 FOR SHARE`, [refs.agent_id]);
    if (targetIds?.length) {
      await m.query(`SELECT 1 FROM deployment_targets WHERE id = ANY($1::text[]) ORDER BY id FOR SHARE`, [targetIds]);
    }
    const found: { field: string; id: string; retired_at: Date | null }[] = await m.query(
      parts.join('\nUNION ALL\n'),
      params,
    );
    const problems: RefProblem[] = [];
    for (const w of wanted) {
      const row = found.find((f) => f.field === w.field && f.id === w.id);
      if (!row) problems.push({ field: w.field, message: `${w.noun} ${JSON.stringify(w.id)} does not exist` });
      else if (w.retirable && row.retired_at && !(w.field === 'target_ids' && keepTargets.includes(w.id))) {
        problems.push({ field: w.field, message: `${w.noun} ${JSON.stringify(w.id)} is retired` });
      }
    }
    return problems;
  }

  /** Live (not archived, not revoked) certificates matching every given criterion, ids only, capped. */
  async matchLive(m: EntityManager, c: CertificateCriteria, cap: number): Promise<string[]> {
    const rows = rowsOf<{ id: string }>(
      await m.query(
        `SELECT id FROM managed_certificates
          WHERE archived_at IS NULL AND status <> 'Revoked'
            AND ($1::text IS NULL OR profile_id = $1)
            AND ($2::text IS NULL OR owner_id = $2)
            AND ($3::text IS NULL OR team_id = $3)
            AND ($4::text IS NULL OR agent_id = $4)
            AND ($5::text IS NULL OR issuer_id = $5)
            AND ($6::text[] IS NULL OR id = ANY($6))
          ORDER BY id
          LIMIT $7`,
        [
          c.profile_id ?? null,
          c.owner_id ?? null,
          c.team_id ?? null,
          c.agent_id ?? null,
          c.issuer_id ?? null,
          c.certificate_ids ?? null,
          cap,
        ],
      ),
    );
    return rows.map((r) => r.id);
  }

  async insert(m: EntityManager, id: string, row: CertificateRow): Promise<void> {
    await m.query(
      `INSERT INTO managed_certificates
         (id, name, common_name, sans, environment, owner_id, team_id, issuer_id, renewal_policy_id,
          profile_id, agent_id, tags, status)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13)`,
      [
        id,
        row.name,
        row.common_name,
        row.sans,
        row.environment,
        row.owner_id,
        row.team_id,
        row.issuer_id,
        row.renewal_policy_id,
        row.profile_id,
        row.agent_id,
        JSON.stringify(row.tags),
        CertificateStatus.Pending,
      ],
    );
  }

  /** Writes the changed columns (keys of CertificateRow) and bumps updated_at. */
  async update(m: EntityManager, id: string, patch: Partial<CertificateRow>): Promise<void> {
    const sets: string[] = [];
    const params: unknown[] = [id];
    for (const [column, value] of Object.entries(patch)) {
      params.push(column === 'tags' ? JSON.stringify(value) : value);
      sets.push(`${column} = $${params.length}${column === 'tags' ? '::jsonb' : ''}`);
    }
    await m.query(
      `UPDATE managed_certificates SET ${[...sets, 'updated_at = now()'].join(', ')} WHERE id = $1`,
      params,
    );
  }

  /** Makes the mapped targets exactly `targetIds` (existing mappings keep their created_at). */
  async replaceTargets(m: EntityManager, id: string, targetIds: readonly string[]): Promise<void> {
    await m.query(
      `DELETE FROM certificate_target_mappings WHERE certificate_id = $1 AND NOT (target_id = ANY($2::text[]))`,
      [id, targetIds],
    );
    if (targetIds.length) {
      await m.query(
        `INSERT INTO certificate_target_mappings (certificate_id, target_id)
         SELECT $1, t FROM unnest($2::text[]) AS t
         ON CONFLICT (certificate_id, target_id) DO NOTHING`,
        [id, targetIds],
      );
    }
  }

  /** Soft delete: status Archived and archived_at; answers whether a row changed. */
  async archive(m: EntityManager, id: string): Promise<boolean> {
    const rows = rowsOf<{ id: string }>(
      await m.query(
        `UPDATE managed_certificates
            SET status = $2, archived_at = now(), updated_at = now()
          WHERE id = $1 AND archived_at IS NULL
        RETURNING id`,
        [id, CertificateStatus.Archived],
      ),
    );
    return rows.length > 0;
  }

  async list(q: CertificateListQueryDto): Promise<ListResult<Partial<CertificateDto>>> {
    const qb = this.ds.getRepository(ManagedCertificateEntity).createQueryBuilder('c');
    const statuses = q.status === undefined ? undefined : parseStatusList(q.status);
    if (Array.isArray(statuses)) qb.andWhere('c.status IN (:...statuses)', { statuses });
    // Archived rows only when asked for, by status or by flag.
    if (!q.include_archived && !(Array.isArray(statuses) && statuses.includes(CertificateStatus.Archived))) {
      qb.andWhere('c.archived_at IS NULL');
    }
    if (q.environment !== undefined) qb.andWhere('c.environment = :environment', { environment: q.environment });
    if (q.owner_id !== undefined) qb.andWhere('c.owner_id = :ownerId', { ownerId: q.owner_id });
    if (q.team_id !== undefined) qb.andWhere('c.team_id = :teamId', { teamId: q.team_id });
    if (q.issuer_id !== undefined) qb.andWhere('c.issuer_id = :issuerId', { issuerId: q.issuer_id });
    if (q.agent_id !== undefined) qb.andWhere('c.agent_id = :agentId', { agentId: q.agent_id });
    if (q.profile_id !== undefined) qb.andWhere('c.profile_id = :profileId', { profileId: q.profile_id });
    if (q.expires_before !== undefined) {
      qb.andWhere('c.expires_at < CAST(:expiresBefore AS timestamptz)', { expiresBefore: q.expires_before });
    }
    if (q.expires_after !== undefined) {
      qb.andWhere('c.expires_at > CAST(:expiresAfter AS timestamptz)', { expiresAfter: q.expires_after });
    }
    if (q.created_after !== undefined) {
      qb.andWhere('c.created_at > CAST(:createdAfter AS timestamptz)', { createdAfter: q.created_after });
    }
    if (q.updated_after !== undefined) {
      qb.andWhere('c.updated_at > CAST(:updatedAfter AS timestamptz)', { updatedAfter: q.updated_after });
    }
    if (q.q) qb.andWhere('(c.name ILIKE :q OR c.common_name ILIKE :q)', { q: `%${likeEscape(q.q)}%` });
    const page = await paginate(qb, q, {
      sortable: certificateSortable((q.sort ?? DEFAULT_SORT).startsWith('-')),
      defaultSort: DEFAULT_SORT,
      fields: CERTIFICATE_FIELDS,
      toDto: (e) => CertificateDto.from(e),
    });
    // Fill in what lives in other tables, only when the selected fields include it.
    const first = page.data[0];
    const want = {
      targets: first !== undefined && 'target_ids' in first,
      version: first !== undefined && VERSION_FIELDS.some((f) => f in first),
    };
    if (want.targets || want.version) {
      const extras = await this.extras(
        this.ds.manager,
        page.data.map((d) => d.id!),
        want,
      );
      for (const d of page.data) {
        const x = extras.get(d.id!)!;
        const version = latestVersionFields(x.latestVersion);
        if (want.targets) d.target_ids = x.targetIds;
        for (const f of VERSION_FIELDS) if (f in d) d[f] = version[f];
      }
    }
    return page;
  }

  /** A certificate's versions, newest first by default. */
  listVersions(
    certificateId: string,
    q: CertificateVersionListQueryDto,
  ): Promise<ListResult<Partial<CertificateVersionDto>>> {
    const qb = this.ds
      .getRepository(CertificateVersionEntity)
      .createQueryBuilder('v')
      .where('v.certificate_id = :certificateId', { certificateId });
    return paginate(qb, q, {
      sortable: { created_at: 'v.created_at', not_before: 'v.not_before', not_after: 'v.not_after' },
      defaultSort: '-created_at',
      fields: CERTIFICATE_VERSION_FIELDS,
      toDto: CertificateVersionDto.from,
    });
  }

  /** The mapped targets with the latest Deployment job of each (certificate, target) pair. */
  async deployments(certificateId: string): Promise<CertificateDeploymentDto[]> {
    const rows: {
      target_id: string;
      name: string;
      type: string;
      agent_id: string | null;
      active: boolean;
      mapped_at: Date;
      job_id: string | null;
      status: string | null;
      last_error: string | null;
      updated_at: Date | null;
    }[] = await this.ds.query(
      `SELECT t.id AS target_id, t.name, t.type, t.agent_id,
              (t.enabled AND t.retired_at IS NULL) AS active,
              m.created_at AS mapped_at,
              j.id AS job_id, j.status, j.last_error, j.updated_at
         FROM certificate_target_mappings m
         JOIN deployment_targets t ON t.id = m.target_id
         LEFT JOIN LATERAL (
                SELECT id, status, last_error, updated_at
                  FROM jobs
                 WHERE jobs.certificate_id = m.certificate_id
                   AND jobs.target_id = m.target_id
                   AND jobs.type = 'Deployment'
                 ORDER BY jobs.created_at DESC, jobs.id DESC
                 LIMIT 1
              ) j ON true
        WHERE m.certificate_id = $1
        ORDER BY t.name, t.id`,
      [certificateId],
    );
    return rows.map((r) => ({
      ...r,
      mapped_at: r.mapped_at.toISOString(),
      updated_at: r.updated_at?.toISOString() ?? null,
    }));
  }
}
