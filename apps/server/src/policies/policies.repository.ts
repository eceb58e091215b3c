import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager, type QueryDeepPartialEntity } from 'typeorm';
import {
  CertificateStatus,
  IdPrefix,
  newId,
  type CertificateFacts,
  type ListResult,
  type Severity,
} from '@certctl/domain';
import { paginate } from '../database/paginate';
import {
  POLICY_RULE_FIELDS,
  POLICY_VIOLATION_FIELDS,
  PolicyRuleDto,
  PolicyViolationDto,
  type PolicyRuleListQueryDto,
  type PolicyViolationListQueryDto,
} from './dto/policy.dto';
import { PolicyRuleEntity, PolicyViolationEntity } from './policy.entity';

export type PolicyRuleWrite = Pick<PolicyRuleEntity, 'name' | 'type' | 'config' | 'severity' | 'enabled'>;

/** A certificate as the evaluator sees it: its row plus the latest version's key and validity. */
export interface CertificateFactsRow extends CertificateFacts {
  id: string;
  archived: boolean;
}

/** One finding to store: the rule and certificate it binds, what is wrong, how bad. */
export interface ViolationWrite {
  certificate_id: string;
  rule_id: string;
  message: string;
  severity: Severity;
}

interface RawFactsRow {
  id: string;
  common_name: string;
  sans: string[];
  environment: string;
  owner_id: string | null;
  issuer_id: string | null;
  tags: Record<string, unknown> | null;
  archived: boolean;
  key_algorithm: string | null;
  key_size: number | null;
  not_before: Date | null;
  not_after: Date | null;
}

/** The certificate row and its latest version (by created_at, then id), if any. */
const FACTS_SELECT = `
  SELECT c.id, c.common_name, c.sans, c.environment, c.owner_id, c.issuer_id, c.tags,
         (c.archived_at IS NOT NULL OR c.status = '${CertificateStatus.Archived}') AS archived,
         v.key_algorithm, v.key_size, v.not_before, v.not_after
    FROM managed_certificates c
    LEFT JOIN LATERAL (
          SELECT key_algorithm, key_size, not_before, not_after
            FROM certificate_versions
           WHERE certificate_id = c.id
           ORDER BY created_at DESC, id DESC
           LIMIT 1
         ) v ON true`;

function toFacts(r: RawFactsRow): CertificateFactsRow {
  return {
    id: r.id,
    archived: r.archived,
    common_name: r.common_name,
    sans: r.sans ?? [],
    environment: r.environment,
    owner_id: r.owner_id,
    issuer_id: r.issuer_id,
    tags: r.tags ?? {},
    key: r.key_algorithm ? { algorithm: r.key_algorithm, size: r.key_size ?? 0 } : null,
    validity: r.not_before && r.not_after ? { not_before: r.not_before, not_after: r.not_after } : null,
  };
}

/** Column-wise arrays for `unnest`, one insert statement per batch. */
function columns(rows: readonly ViolationWrite[]): [string[], string[], string[], string[], string[]] {
  return [
    rows.map(() => newId(IdPrefix.PolicyViolation)),
    rows.map((r) => r.certificate_id),
    rows.map((r) => r.rule_id),
    rows.map((r) => r.message),
    rows.map((r) => r.severity),
  ];
}

/**
 * Inserts new findings and refreshes changed ones. An unchanged finding keeps its row and
 * created_at; one whose message changed is a new finding (created_at moves to now);
 * a severity-only change keeps created_at.
 */
const UPSERT_VIOLATIONS = `
  INSERT INTO policy_violations AS pv (id, certificate_id, rule_id, message, severity)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
  ON CONFLICT (certificate_id, rule_id) DO UPDATE
     SET message    = EXCLUDED.message,
         severity   = EXCLUDED.severity,
         created_at = CASE WHEN pv.message = EXCLUDED.message THEN pv.created_at ELSE now() END
   WHERE pv.message <> EXCLUDED.message OR pv.severity <> EXCLUDED.severity`;

@Injectable()
export class PoliciesRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  // -------------------------------------------------------------------------------------
  // Rules

  findById(id: string, m: EntityManager = this.ds.manager): Promise<PolicyRuleEntity | null> {
    return m.getRepository(PolicyRuleEntity).findOneBy({ id });
  }

  /** Locks the row for the rest of the transaction (update/delete read-modify-write). */
  findForUpdate(m: EntityManager, id: string): Promise<PolicyRuleEntity | null> {
    return m.getRepository(PolicyRuleEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  async insert(m: EntityManager, rule: PolicyRuleWrite & { id: string }): Promise<PolicyRuleEntity> {
    // config is free-form JSON (validated per type by the service)
    await m.getRepository(PolicyRuleEntity).insert(rule as QueryDeepPartialEntity<PolicyRuleEntity>);
    return (await this.findById(rule.id, m))!;
  }

  async update(m: EntityManager, id: string, patch: Partial<PolicyRuleWrite>): Promise<PolicyRuleEntity> {
    const values = { ...patch, updatedAt: new Date() } as QueryDeepPartialEntity<PolicyRuleEntity>;
    await m.getRepository(PolicyRuleEntity).update({ id }, values);
    return (await this.findById(id, m))!;
  }

  /** Deletes the rule; its violations go with it (ON DELETE CASCADE). */
  async delete(m: EntityManager, id: string): Promise<void> {
    await m.getRepository(PolicyRuleEntity).delete({ id });
  }

  /** Share-locks the rule for an evaluation batch: rule writes wait, certificate writes do not. */
  lockRuleShared(m: EntityManager, id: string): Promise<PolicyRuleEntity | null> {
    return m.getRepository(PolicyRuleEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_read' } });
  }

  /** Enabled rules in creation order: the set every certificate is checked against. */
  enabledRules(m: EntityManager): Promise<PolicyRuleEntity[]> {
    return m.getRepository(PolicyRuleEntity).find({ where: { enabled: true }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  /** The ids among `ids` that name no issuer. */
  async missingIssuers(m: EntityManager, ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const found: { id: string }[] = await m.query(`SELECT id FROM issuers WHERE id = ANY($1::text[])`, [ids]);
    const have = new Set(found.map((r) => r.id));
    return ids.filter((id) => !have.has(id));
  }

  list(q: PolicyRuleListQueryDto): Promise<ListResult<Partial<PolicyRuleDto>>> {
    const qb = this.ds.getRepository(PolicyRuleEntity).createQueryBuilder('r');
    if (q.q) qb.andWhere('r.name ILIKE :q', { q: `%${q.q.replace(/[\\%_]/g, '\\$&')}%` });
    if (q.type) qb.andWhere('r.type = :type', { type: q.type });
    if (q.severity) qb.andWhere('r.severity = :severity', { severity: q.severity });
    if (q.enabled !== undefined) qb.andWhere('r.enabled = :enabled', { enabled: q.enabled });
    return paginate(qb, q, {
      sortable: {
        created_at: 'r.created_at',
        updated_at: 'r.updated_at',
        name: { column: 'r.name', kind: 'text' },
        type: { column: 'r.type', kind: 'text' },
        severity: { column: 'r.severity', kind: 'text' },
      },
      defaultSort: 'name',
      fields: POLICY_RULE_FIELDS,
      toDto: PolicyRuleDto.from,
    });
  }

  // -------------------------------------------------------------------------------------
  // Violations

  listViolations(ruleId: string, q: PolicyViolationListQueryDto): Promise<ListResult<Partial<PolicyViolationDto>>> {
    const qb = this.ds
      .getRepository(PolicyViolationEntity)
      .createQueryBuilder('v')
      .where('v.rule_id = :ruleId', { ruleId })
      // Archived certificates are out of scope even before a pass has cleared their rows.
      .andWhere(
        `NOT EXISTS (SELECT 1 FROM managed_certificates c
                      WHERE c.id = v.certificate_id AND (c.archived_at IS NOT NULL OR c.status = :archived))`,
        { archived: CertificateStatus.Archived },
      );
    if (q.certificate_id) qb.andWhere('v.certificate_id = :cid', { cid: q.certificate_id });
    if (q.severity) qb.andWhere('v.severity = :severity', { severity: q.severity });
    return paginate(qb, q, {
      sortable: {
        created_at: 'v.created_at',
        certificate_id: { column: 'v.certificate_id', kind: 'text' },
        severity: { column: 'v.severity', kind: 'text' },
      },
      defaultSort: '-created_at',
      fields: POLICY_VIOLATION_FIELDS,
      toDto: PolicyViolationDto.from,
    });
  }

  violationsOfCertificate(m: EntityManager, certificateId: string): Promise<PolicyViolationEntity[]> {
    return m
      .getRepository(PolicyViolationEntity)
      .find({ where: { certificateId }, order: { createdAt: 'ASC', ruleId: 'ASC' } });
  }

  async deleteRuleViolations(m: EntityManager, ruleId: string): Promise<void> {
    await m.query(`DELETE FROM policy_violations WHERE rule_id = $1`, [ruleId]);
  }

  async setRuleSeverity(m: EntityManager, ruleId: string, severity: Severity): Promise<void> {
    await m.query(`UPDATE policy_violations SET severity = $2 WHERE rule_id = $1`, [ruleId, severity]);
  }

  /** Archived certificates are out of scope: drop what the rule recorded against them. */
  async deleteRuleViolationsOfArchived(ruleId: string): Promise<void> {
    await this.ds.query(
      `DELETE FROM policy_violations pv
        USING managed_certificates c
        WHERE pv.rule_id = $1
          AND c.id = pv.certificate_id
          AND (c.archived_at IS NOT NULL OR c.status = $2)`,
      [ruleId, CertificateStatus.Archived],
    );
  }

  // -------------------------------------------------------------------------------------
  // Evaluation

  async certificateFacts(m: EntityManager, certificateId: string): Promise<CertificateFactsRow | undefined> {
    const rows: RawFactsRow[] = await m.query(`${FACTS_SELECT} WHERE c.id = $1`, [certificateId]);
    return rows[0] && toFacts(rows[0]);
  }

  /**
   * The next batch of live certificates after `afterId`, in id order (primary key range
   * scan). FOR SHARE waits for in-flight certificate writes and keeps the rows stable until
   * this batch's findings are stored, so a concurrent update is never overwritten by
   * findings computed from the old row.
   */
  async liveCertificateBatch(m: EntityManager, afterId: string, limit: number): Promise<CertificateFactsRow[]> {
    const rows: RawFactsRow[] = await m.query(
      `${FACTS_SELECT}
        WHERE c.archived_at IS NULL AND c.status <> $1 AND c.id > $2
        ORDER BY c.id
        LIMIT $3
          FOR SHARE OF c`,
      [CertificateStatus.Archived, afterId, limit],
    );
    return rows.map(toFacts);
  }

  /** Makes `findings` the complete set of this certificate's violations (all rules). */
  async replaceCertificateViolations(
    m: EntityManager,
    certificateId: string,
    findings: readonly ViolationWrite[],
  ): Promise<void> {
    if (findings.length) await m.query(UPSERT_VIOLATIONS, columns(findings));
    await m.query(`DELETE FROM policy_violations WHERE certificate_id = $1 AND NOT (rule_id = ANY($2::text[]))`, [
      certificateId,
      findings.map((f) => f.rule_id),
    ]);
  }

  /** Makes `findings` the complete set of one rule's violations among `certificateIds`. */
  async replaceRuleViolations(
    m: EntityManager,
    ruleId: string,
    certificateIds: readonly string[],
    findings: readonly ViolationWrite[],
  ): Promise<void> {
    if (findings.length) await m.query(UPSERT_VIOLATIONS, columns(findings));
    await m.query(
      `DELETE FROM policy_violations
        WHERE rule_id = $1
          AND certificate_id = ANY($2::text[])
          AND NOT (certificate_id = ANY($3::text[]))`,
      [ruleId, certificateIds, findings.map((f) => f.certificate_id)],
    );
  }
}
