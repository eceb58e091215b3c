import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { conflict, IdPrefix, invalid, newId, notFound, type ListResult } from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import { rethrowConstraint } from '../database/pg-errors';
import type { Principal } from '../http/request-context';
import { PolicyEvaluationService } from '../policies/policy-evaluation.service';
import { certificateChanges, type CertificatePatchInput } from './certificate-changes';
import { CertificatesRepository, type CertificateRow, type RefProblem } from './certificates.repository';
import {
  CERTIFICATE_REFS,
  CertificateDto,
  type CertificateDeploymentListDto,
  type CertificateListQueryDto,
  type CertificateVersionDto,
  type CertificateVersionListQueryDto,
  type CreateCertificateDto,
  type UpdateCertificateDto,
} from './dto/certificate.dto';
import { plausibleId } from './certificate-input';
import { checkCommonName, normalizeSans } from './names';

/** The DTO validators already accepted these; this yields their canonical forms. */
function canonicalCommonName(cn: string): string {
  const r = checkCommonName(cn);
  if (!r.ok) throw invalid(`body.common_name: ${r.error}`);
  return r.value;
}

function canonicalSans(sans: readonly string[]): string[] {
  const r = normalizeSans(sans);
  if (!r.ok) throw invalid(`body.sans: ${r.error}`);
  return r.value;
}

const unique = (ids: readonly string[]): string[] => [...new Set(ids)];

/** A path id that cannot exist is a 404 before any query (a NUL would make Postgres fail). */
export function checkPathId(id: string): void {
  if (!plausibleId(id)) throw notFound('certificate', id);
}

export function throwRefProblems(problems: RefProblem[]): void {
  if (problems.length === 0) return;
  throw invalid(problems.map((p) => `body.${p.field}: ${p.message}`).join('; '), {
    fields: [...new Set(problems.map((p) => p.field))],
  });
}

@Injectable()
export class CertificatesService {
  constructor(
    private readonly repo: CertificatesRepository,
    private readonly audit: AuditRepository,
    private readonly policies: PolicyEvaluationService,
  ) {}

  list(q: CertificateListQueryDto): Promise<ListResult<Partial<CertificateDto>>> {
    return this.repo.list(q);
  }

  async get(id: string): Promise<CertificateDto> {
    checkPathId(id);
    const cert = await this.repo.findDto(id);
    if (!cert) throw notFound('certificate', id);
    return cert;
  }

  async versions(id: string, q: CertificateVersionListQueryDto): Promise<ListResult<Partial<CertificateVersionDto>>> {
    checkPathId(id);
    if (!(await this.repo.exists(id))) throw notFound('certificate', id);
    return this.repo.listVersions(id, q);
  }

  async deployments(id: string): Promise<CertificateDeploymentListDto> {
    checkPathId(id);
    if (!(await this.repo.exists(id))) throw notFound('certificate', id);
    const data = await this.repo.deployments(id);
    return { data, total: data.length };
  }

  /**
   * Records the managed certificate (status Pending, no version yet): issuing it is the
   * job engine's work. References are checked first so a bad one is a 400 naming the field.
   */
  async create(actor: Principal, body: CreateCertificateDto): Promise<CertificateDto> {
    const id = body.id ?? newId(IdPrefix.Certificate);
    const row: CertificateRow = {
      name: body.name,
      common_name: canonicalCommonName(body.common_name),
      sans: canonicalSans(body.sans ?? []),
      environment: body.environment ?? '',
      owner_id: body.owner_id ?? null,
      team_id: body.team_id ?? null,
      issuer_id: body.issuer_id ?? null,
      renewal_policy_id: body.renewal_policy_id ?? null,
      profile_id: body.profile_id ?? null,
      agent_id: body.agent_id ?? null,
      tags: body.tags ?? {},
    };
    const targetIds = unique(body.target_ids ?? []);
    try {
      return await this.repo.transaction(async (m) => {
        throwRefProblems(await this.repo.checkReferences(m, row, targetIds));
        await this.repo.insert(m, id, row);
        await this.repo.replaceTargets(m, id, targetIds);
        const violations = await this.policies.evaluateCertificate(m, id);
        await this.audit.recordDomain(m, actor, 'certificate_created', 'certificate', id, {
          name: row.name,
          common_name: row.common_name,
          sans: row.sans,
          environment: row.environment,
          ...Object.fromEntries(CERTIFICATE_REFS.filter((k) => row[k] !== null).map((k) => [k, row[k]])),
          target_ids: targetIds,
          policy_violations: violations.length,
        });
        return this.reload(m, id);
      });
    } catch (e) {
      rethrowConstraint(e, `certificate ${JSON.stringify(id)}`);
    }
  }

  /** Partial update; an archived certificate is frozen (409); a no-op writes and audits nothing. */
  async update(actor: Principal, id: string, body: UpdateCertificateDto): Promise<CertificateDto> {
    checkPathId(id);
    const input: CertificatePatchInput = {
      ...body,
      ...(body.common_name !== undefined && { common_name: canonicalCommonName(body.common_name) }),
      ...(body.sans !== undefined && { sans: canonicalSans(body.sans) }),
      ...(body.target_ids !== undefined && { target_ids: unique(body.target_ids) }),
    };
    try {
      return await this.repo.transaction(async (m) => {
        const before = await this.repo.lockForUpdate(m, id);
        if (!before) throw notFound('certificate', id);
        if (before.archived_at) {
          throw conflict(`certificate ${JSON.stringify(id)} is archived; archived certificates cannot be changed`);
        }
        const { patch, targetIds, changes } = certificateChanges(before, input);
        if (Object.keys(changes).length === 0) return this.reload(m, id);
        const newRefs = Object.fromEntries(CERTIFICATE_REFS.filter((k) => patch[k]).map((k) => [k, patch[k]]));
        throwRefProblems(await this.repo.checkReferences(m, newRefs, targetIds, before.target_ids));
        await this.repo.update(m, id, patch);
        if (targetIds) await this.repo.replaceTargets(m, id, targetIds);
        const violations = await this.policies.evaluateCertificate(m, id);
        await this.audit.recordDomain(m, actor, 'certificate_updated', 'certificate', id, {
          changed: Object.keys(changes),
          changes,
          policy_violations: violations.length,
        });
        return this.reload(m, id);
      });
    } catch (e) {
      rethrowConstraint(e, `certificate ${JSON.stringify(id)}`);
    }
  }

  /** Soft delete: status Archived + archived_at; archiving again is a no-op (still 204). */
  async archive(actor: Principal, id: string): Promise<void> {
    checkPathId(id);
    await this.repo.transaction(async (m) => {
      const cert = await this.repo.lockForUpdate(m, id);
      if (!cert) throw notFound('certificate', id);
      if (cert.archived_at) return;
      await this.repo.archive(m, id);
      // An archived certificate carries no policy violations: this clears them.
      await this.policies.evaluateCertificate(m, id);
      await this.audit.recordDomain(m, actor, 'certificate_archived', 'certificate', id, {
        name: cert.name,
        common_name: cert.common_name,
        previous_status: cert.status,
      });
    });
  }

  private async reload(m: EntityManager, id: string): Promise<CertificateDto> {
    const cert = await this.repo.findDto(id, m);
    if (!cert) throw notFound('certificate', id);
    return cert;
  }
}
