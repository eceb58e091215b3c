import { Injectable } from '@nestjs/common';
import { CertificateStatus, conflict, invalid, notFound } from '@certctl/domain';
import type { EntityManager } from 'typeorm';
import { rowsOf } from '../database/sql';
import { AuditRepository } from '../audit/audit.repository';
import type { Principal } from '../http/request-context';
import { JobDispatcher } from '../jobs/job-engine';
import { JobFactory, type CreatedJob } from '../jobs/job-factory';
import { JobsRepository } from '../jobs/jobs.repository';
import { JobDto } from '../jobs/dto/job.dto';
import { criteriaOf, selectForBulk } from './bulk-selection';
import { CertificateActionsRepository, type MappedTarget } from './certificate-actions.repository';
import { CertificatesRepository, type LockedCertificate } from './certificates.repository';
import { CertificatesService, checkPathId, throwRefProblems } from './certificates.service';
import {
  BULK_ACTION_LIMIT,
  BULK_RENEW_CRITERIA,
  type BulkActionFailureDto,
  type BulkReassignDto,
  type BulkReassignResultDto,
  type BulkRenewDto,
  type BulkRenewResultDto,
  type CertificateJobDto,
  type DeployCertificateDto,
  type DeploymentJobsDto,
} from './dto/certificate-actions.dto';

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** 409 for certificates no action may touch any more. */
function refuseFinished(cert: LockedCertificate, action: string): void {
  const id = JSON.stringify(cert.id);
  if (cert.archived_at) throw conflict(`certificate ${id} is archived; archived certificates cannot be ${action}`);
  if (cert.status === CertificateStatus.Revoked) {
    throw conflict(`certificate ${id} is revoked; a revoked certificate cannot be ${action} (create a new one)`);
  }
}

/**
 * Actions on managed certificates that start work: renewal (an Issuance or Renewal job),
 * deployment (one Deployment job per target) and their bulk forms, plus bulk reassignment.
 * Jobs are created in the request's transaction; issuance jobs are enqueued after it commits
 * (Deployment jobs wait for their agent to poll). An open job of the same kind is returned,
 * not duplicated, so retrying a request is safe.
 */
@Injectable()
export class CertificateActionsService {
  constructor(
    private readonly certs: CertificatesRepository,
    private readonly certificates: CertificatesService,
    private readonly actions: CertificateActionsRepository,
    private readonly jobFactory: JobFactory,
    private readonly jobs: JobsRepository,
    private readonly dispatcher: JobDispatcher,
    private readonly audit: AuditRepository,
  ) {}

  async renew(actor: Principal, id: string): Promise<CertificateJobDto> {
    checkPathId(id);
    const { job, dto } = await this.requestRenewal(actor, id);
    if (job.created && job.status === 'Pending')
      await this.dispatcher.enqueue([{ id: job.id, attempts: job.attempts }]);
    return dto;
  }

  /**
   * Renews every live certificate matching the filters, each in its own transaction so one
   * failure (no issuer, say) does not stop the rest; one summary audit row records the run.
   */
  async bulkRenew(actor: Principal, body: BulkRenewDto): Promise<BulkRenewResultDto> {
    const ids = await selectForBulk(this.certs, body, { limit: BULK_ACTION_LIMIT, accepted: BULK_RENEW_CRITERIA });
    const created: CreatedJob[] = [];
    const jobIds: string[] = [];
    const failed: BulkActionFailureDto[] = [];
    for (const id of ids) {
      try {
        const { job } = await this.requestRenewal(actor, id);
        jobIds.push(job.id);
        if (job.created && job.status === 'Pending') created.push(job);
      } catch (e) {
        failed.push({ certificate_id: id, error: errorText(e) });
      }
    }
    await this.dispatcher.enqueue(created.map((j) => ({ id: j.id, attempts: j.attempts })));
    const result: BulkRenewResultDto = {
      matched: ids.length,
      created: created.length,
      skipped: jobIds.length - created.length,
      failed,
      job_ids: jobIds,
    };
    const { job_ids: _ids, failed: _failed, ...counts } = result;
    await this.certs.transaction((m) =>
      this.audit.recordDomain(m, actor, 'bulk_renewal_requested', 'certificate', '', {
        criteria: criteriaOf(body, BULK_RENEW_CRITERIA),
        ...counts,
        failed: failed.length,
      }),
    );
    return result;
  }

  /**
   * One Deployment job per target (the given mapped ones, or every active mapped one), routed
   * to the agent of the target. The agents pick them up through the agent work API.
   */
  async deploy(actor: Principal, id: string, body: DeployCertificateDto): Promise<DeploymentJobsDto> {
    checkPathId(id);
    return this.certs.transaction(async (m) => {
      const cert = await this.lockLive(m, id, 'deployed');
      const version = await this.actions.latestVersion(id, m);
      if (!version) {
        throw conflict(`certificate ${JSON.stringify(id)} has no issued version to deploy; renew it first`);
      }
      const mapped = await this.actions.mappedTargets(m, id);
      if (mapped.length === 0) {
        throw invalid(
          `target_ids: certificate ${JSON.stringify(id)} is not mapped to any deployment target; ` +
            'map targets with PUT /api/v1/certificates/{id} (target_ids)',
          { fields: ['target_ids'] },
        );
      }
      const targets = body.target_ids
        ? this.pickTargets(cert, mapped, body.target_ids)
        : mapped.filter((t) => t.active);
      if (targets.length === 0) {
        throw invalid(`target_ids: every target mapped to certificate ${JSON.stringify(id)} is disabled or retired`, {
          fields: ['target_ids'],
        });
      }
      const out: CertificateJobDto[] = [];
      for (const t of targets) {
        const job = await this.jobFactory.create(m, {
          type: 'Deployment',
          certificateId: id,
          targetId: t.id,
          agentId: t.agent_id,
        });
        out.push(await this.jobDto(m, job));
      }
      await this.audit.recordDomain(m, actor, 'certificate_deployment_requested', 'certificate', id, {
        version_id: version.id,
        serial_number: version.serial_number,
        target_ids: targets.map((t) => t.id),
        job_ids: out.map((j) => j.id),
        created: out.filter((j) => j.created).length,
      });
      return { jobs: out };
    });
  }

  /**
   * Sets the owner and/or team of many certificates through the ordinary update (its audit
   * row, policy re-evaluation and archived-row refusal per certificate). The references are
   * checked once first: a bad one is a 400 for the whole request.
   */
  async bulkReassign(actor: Principal, body: BulkReassignDto): Promise<BulkReassignResultDto> {
    const patch = {
      ...(body.owner_id !== undefined && { owner_id: body.owner_id }),
      ...(body.team_id !== undefined && { team_id: body.team_id }),
    };
    if (Object.keys(patch).length === 0) throw invalid('body: give owner_id or team_id (or both)');
    await this.certs.transaction(async (m) => throwRefProblems(await this.certs.checkReferences(m, patch, undefined)));
    let updated = 0;
    const failed: BulkActionFailureDto[] = [];
    for (const id of [...new Set(body.certificate_ids)]) {
      try {
        await this.certificates.update(actor, id, patch);
        updated++;
      } catch (e) {
        failed.push({ certificate_id: id, error: errorText(e) });
      }
    }
    return { updated, failed };
  }

  /** Creates (or finds) the certificate's Issuance/Renewal job in one transaction. */
  private requestRenewal(actor: Principal, id: string): Promise<{ job: CreatedJob; dto: CertificateJobDto }> {
    return this.certs.transaction(async (m) => {
      const cert = await this.lockLive(m, id, 'renewed');
      const enrolledVia = rowsOf<{ enrolled_via: string | null }>(
        await m.query(`SELECT enrolled_via FROM managed_certificates WHERE id = $1`, [id]),
      )[0]?.enrolled_via;
      if (enrolledVia) {
        throw conflict(
          `certificate ${JSON.stringify(id)} was enrolled over ${enrolledVia}: the device holds its key and renews it ` +
            `itself (${enrolledVia === 'EST' ? 'EST simplereenroll' : 'SCEP RenewalReq'})`,
        );
      }
      if (!cert.issuer_id) {
        throw invalid(
          `issuer_id: certificate ${JSON.stringify(id)} has no issuer; set issuer_id ` +
            '(PUT /api/v1/certificates/{id}) before renewing it',
          { fields: ['issuer_id'] },
        );
      }
      const issued = (await this.actions.latestVersion(id, m)) !== null;
      const type = issued ? 'Renewal' : 'Issuance';
      const job = await this.jobFactory.create(m, {
        type,
        certificateId: id,
        agentId: cert.agent_id,
        requestedBy: { actorId: actor.actorId, actorType: actor.actorType },
      });
      if (job.created) {
        // A never-issued certificate stays Pending: there is nothing in service to renew.
        if (issued && cert.status !== CertificateStatus.RenewalInProgress) {
          await this.actions.setStatus(m, id, CertificateStatus.RenewalInProgress);
        }
        await this.audit.recordDomain(m, actor, 'certificate_renewal_requested', 'certificate', id, {
          job_id: job.id,
          job_type: type,
          previous_status: cert.status,
        });
      }
      return { job, dto: await this.jobDto(m, job) };
    });
  }

  private async lockLive(m: EntityManager, id: string, action: string): Promise<LockedCertificate> {
    const cert = await this.certs.lockForUpdate(m, id);
    if (!cert) throw notFound('certificate', id);
    refuseFinished(cert, action);
    return cert;
  }

  private pickTargets(
    cert: LockedCertificate,
    mapped: readonly MappedTarget[],
    wanted: readonly string[],
  ): MappedTarget[] {
    const byId = new Map(mapped.map((t) => [t.id, t]));
    const problems: string[] = [];
    for (const id of new Set(wanted)) {
      const t = byId.get(id);
      if (!t) problems.push(`target ${JSON.stringify(id)} is not mapped to certificate ${JSON.stringify(cert.id)}`);
      else if (!t.active) problems.push(`target ${JSON.stringify(id)} is disabled or retired`);
    }
    if (problems.length) throw invalid(`body.target_ids: ${problems.join('; ')}`, { fields: ['target_ids'] });
    return [...new Set(wanted)].map((id) => byId.get(id)!);
  }

  private async jobDto(m: EntityManager, job: CreatedJob): Promise<CertificateJobDto> {
    const row = await this.jobs.findById(job.id, m);
    if (!row) throw new Error(`job ${job.id} vanished inside its own transaction`);
    return { ...JobDto.from(row), created: job.created };
  }
}
