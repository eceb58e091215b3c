import { Injectable } from '@nestjs/common';
import {
  assertTransition,
  conflict,
  DomainError,
  ErrorCode,
  forbidden,
  gone,
  invalid,
  JobStatus,
  JobType,
  notFound,
} from '@certctl/domain';
import { derToPem, parseCsr, pemToDers } from '@certctl/pki';
import type { EntityManager } from 'typeorm';
import { AuditRepository } from '../audit/audit.repository';
import type { Principal } from '../http/request-context';
import { IssuanceService, serverKeyAlgorithm } from '../issuance/issuance.service';
import { JobFactory } from '../jobs/job-factory';
import { AgentWorkRepository, type AgentJobRow, type WorkRow } from './agent-work.repository';
import {
  WORK_DEFAULT_LIMIT,
  type AgentCertificateDto,
  type AgentJobDto,
  type AgentWorkDto,
  type AgentWorkItemDto,
  type IssuedCertificateDto,
  type ReportJobStatusDto,
  type SubmitCsrDto,
} from './dto/agent-work.dto';

const DETAILS_MAX_BYTES = 16 * 1024;

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

function workItem(r: WorkRow): AgentWorkItemDto {
  const csr = r.type !== JobType.Deployment;
  return {
    id: r.id,
    type: r.type,
    status: r.status,
    certificate_id: r.certificate_id,
    created_at: r.created_at.toISOString(),
    common_name: csr ? r.common_name : null,
    sans: csr ? r.sans : null,
    key_algorithm: csr ? serverKeyAlgorithm(r.allowed_key_algorithms ?? undefined) : null,
    target_id: csr ? null : r.target_id,
    target_type: csr ? null : r.target_type,
    target_name: csr ? null : r.target_name,
    target_config: csr ? null : (r.target_config ?? {}),
    secret_fields: csr ? null : (r.secret_fields ?? []),
    version_id: csr ? null : r.version_id,
  };
}

function jobDto(j: AgentJobRow, followUpJobId: string | null = null): AgentJobDto {
  return {
    id: j.id,
    type: j.type,
    status: j.status,
    certificate_id: j.certificate_id,
    target_id: j.target_id,
    version_id: j.version_id,
    attempts: j.attempts,
    max_attempts: j.max_attempts,
    last_error: j.last_error,
    started_at: iso(j.started_at),
    completed_at: iso(j.completed_at),
    updated_at: j.updated_at.toISOString(),
    follow_up_job_id: followUpJobId,
  };
}

/**
 * What an agent does through the server: poll its work, submit CSRs, claim and report
 * Deployment jobs, fetch the certificates it deploys. Agents are pull-only: the server
 * never connects to them. An agent's key acts only as its own agent (like the heartbeat);
 * other keys with the permission may act for any agent. Unknown agents are 404, retired
 * ones 410 (their signal to stop); another agent's jobs and certificates are 404, so they
 * do not leak.
 */
@Injectable()
export class AgentWorkService {
  constructor(
    private readonly repo: AgentWorkRepository,
    private readonly issuance: IssuanceService,
    private readonly factory: JobFactory,
    private readonly audit: AuditRepository,
  ) {}

  async work(actor: Principal, agentId: string, limit = WORK_DEFAULT_LIMIT): Promise<AgentWorkDto> {
    await this.requireAgent(actor, agentId);
    const rows = await this.repo.work(agentId, limit);
    return { data: rows.map(workItem), total: rows.length ? Number(rows[0].total) : 0 };
  }

  /**
   * The agent's CSR for its AwaitingCSR job. Text that is not a CSR is refused before the
   * job is touched (a garbled request does not fail the job or the certificate); the rest
   * (claim, profile check, issuance, recording) is IssuanceService.submitCsr.
   */
  async submitCsr(actor: Principal, agentId: string, body: SubmitCsrDto): Promise<IssuedCertificateDto> {
    await this.requireAgent(actor, agentId);
    await parseCsr(body.csr_pem).catch((e: unknown) => {
      throw e instanceof DomainError
        ? invalid(e.message.replace(/^csr(?=[.:])/, 'body.csr_pem'), e.details)
        : invalid('body.csr_pem: not a PKCS#10 CSR');
    });
    const issued = await this.issuance.submitCsr(actor, {
      agentId,
      certificateId: body.certificate_id,
      csrPem: body.csr_pem,
      jobId: body.job_id,
    });
    if ('order_id' in issued) {
      return {
        status: JobStatus.AwaitingIssuer,
        job_id: issued.job_id,
        certificate_id: issued.certificate_id,
        order_id: issued.order_id,
      };
    }
    return {
      status: JobStatus.Completed,
      job_id: issued.job_id,
      certificate_id: issued.certificate_id,
      version_id: issued.version_id,
      serial_number: issued.serial_number,
      fingerprint_sha256: issued.fingerprint_sha256,
      certificate_pem: issued.certificate_pem,
      chain_pem: issued.chain_pem,
      not_before: issued.not_before,
      not_after: issued.not_after,
      deployment_job_ids: issued.deployment_job_ids,
    };
  }

  /**
   * A Deployment job's progress, reported by the agent it is routed to:
   * Pending -> Running (the claim, once: the version to deploy is pinned), then Running ->
   * Completed | Failed. Failed keeps its attempts, so the retry loop requeues it with
   * backoff until they run out. One transaction per transition with its audit row.
   */
  async reportStatus(actor: Principal, agentId: string, jobId: string, body: ReportJobStatusDto): Promise<AgentJobDto> {
    const error = body.error?.trim() || null;
    if (body.status === 'Failed' && !error) {
      throw invalid('body.error: required when status is Failed (say what failed)');
    }
    if (body.status !== 'Failed' && body.error !== undefined) {
      throw invalid(`body.error: only allowed with status Failed, not ${body.status}`);
    }
    if (body.details !== undefined && Buffer.byteLength(JSON.stringify(body.details)) > DETAILS_MAX_BYTES) {
      throw invalid(`body.details: at most ${DETAILS_MAX_BYTES} bytes of JSON`);
    }
    return this.repo.transaction(async (m) => {
      await this.requireAgent(actor, agentId, m);
      const job = await this.repo.lockJob(m, jobId);
      if (!job || job.agent_id !== agentId) throw notFound('job', jobId);
      if (job.type !== JobType.Deployment) {
        throw conflict(
          `job ${JSON.stringify(jobId)} is a ${job.type} job: agents report Deployment jobs here; ` +
            'an AwaitingCSR job completes through POST /api/v1/agents/{id}/csr',
        );
      }
      if (body.status === 'Running' && job.status === 'Running') {
        throw conflict(`job ${JSON.stringify(jobId)} is already claimed (Running since ${iso(job.started_at)})`);
      }
      assertTransition(job.status, body.status);
      if (body.status === 'Running') return this.claim(m, actor, agentId, job, body.details);
      return this.finish(m, actor, agentId, job, body.status, error, body.details);
    });
  }

  private async claim(
    m: EntityManager,
    actor: Principal,
    agentId: string,
    job: AgentJobRow,
    details: Record<string, unknown> | undefined,
  ): Promise<AgentJobDto> {
    if (job.scheduled_at.getTime() > Date.now()) {
      throw conflict(`job ${JSON.stringify(job.id)} is scheduled for ${job.scheduled_at.toISOString()}; claim it then`);
    }
    const ctx = await this.repo.deploymentContext(m, job.certificate_id, job.target_id ?? '');
    if (!ctx.certificate_live) {
      throw conflict(`certificate ${JSON.stringify(job.certificate_id)} is archived or revoked: nothing to deploy`);
    }
    if (!ctx.target_active) throw conflict(`target ${JSON.stringify(job.target_id)} is disabled or retired`);
    if (!ctx.latest_version_id) {
      throw conflict(`certificate ${JSON.stringify(job.certificate_id)} has no issued version to deploy`);
    }
    const claimed = await this.repo.claimDeployment(m, job.id, agentId, ctx.latest_version_id);
    if (!claimed) throw conflict(`job ${JSON.stringify(job.id)} was claimed concurrently`);
    await this.audit.recordDomain(m, actor, 'deployment_started', 'certificate', job.certificate_id, {
      job_id: job.id,
      agent_id: agentId,
      target_id: job.target_id,
      version_id: claimed.version_id,
      serial_number: await this.repo.versionSerial(m, ctx.latest_version_id),
      attempt: claimed.attempts,
      ...(details ? { agent_details: details } : {}),
    });
    return jobDto(claimed);
  }

  private async finish(
    m: EntityManager,
    actor: Principal,
    agentId: string,
    job: AgentJobRow,
    to: 'Completed' | 'Failed',
    error: string | null,
    details: Record<string, unknown> | undefined,
  ): Promise<AgentJobDto> {
    if (job.status !== 'Running') {
      // The machine also lets AwaitingApproval fail; an agent only ends what it claimed.
      throw conflict(`job ${JSON.stringify(job.id)} is ${job.status}: claim it (status Running) first`);
    }
    const done = await this.repo.finishDeployment(m, job.id, agentId, to, error);
    if (!done) throw conflict(`job ${JSON.stringify(job.id)} changed state concurrently`);
    let followUp: string | null = null;
    if (to === 'Completed' && job.target_id) {
      // A renewal recorded while this job ran found it open and made no new job: deploy the newer version next.
      const ctx = await this.repo.deploymentContext(m, job.certificate_id, job.target_id);
      if (
        ctx.certificate_live &&
        ctx.target_active &&
        ctx.latest_version_id &&
        ctx.latest_version_id !== job.version_id
      ) {
        const next = await this.factory.create(m, {
          type: JobType.Deployment,
          certificateId: job.certificate_id,
          targetId: job.target_id,
          agentId: ctx.target_agent_id,
        });
        followUp = next.id;
      }
    }
    await this.audit.recordDomain(
      m,
      actor,
      to === 'Completed' ? 'deployment_completed' : 'deployment_failed',
      'certificate',
      job.certificate_id,
      {
        job_id: job.id,
        agent_id: agentId,
        target_id: job.target_id,
        version_id: job.version_id,
        serial_number: job.version_id ? await this.repo.versionSerial(m, job.version_id) : null,
        attempt: job.attempts,
        ...(error ? { error } : {}),
        ...(followUp ? { follow_up_job_id: followUp } : {}),
        ...(details ? { agent_details: details } : {}),
      },
    );
    return jobDto(done, followUp);
  }

  /** The newest (or the given) version of a certificate the agent serves: public material only. */
  async certificate(
    actor: Principal,
    agentId: string,
    certificateId: string,
    versionId?: string,
  ): Promise<AgentCertificateDto> {
    await this.requireAgent(actor, agentId);
    if (!(await this.repo.serves(agentId, certificateId))) throw notFound('certificate', certificateId);
    const v = await this.repo.version(certificateId, versionId);
    if (!v) {
      if (versionId) throw notFound('certificate version', versionId);
      throw new DomainError(ErrorCode.NotFound, `certificate ${JSON.stringify(certificateId)} has no issued version`);
    }
    let pems: string[];
    try {
      // Only CERTIFICATE blocks are re-armoured from DER: nothing else can leave through here.
      pems = pemToDers(v.pem_chain, ['CERTIFICATE'], 'pem_chain').map((der) => derToPem(der, 'CERTIFICATE'));
    } catch (e) {
      throw conflict(`the stored chain of version ${v.id} is not readable PEM: ${(e as Error).message}`);
    }
    return {
      certificate_id: certificateId,
      version_id: v.id,
      serial_number: v.serial_number,
      fingerprint_sha256: v.fingerprint_sha256,
      certificate_pem: pems[0],
      chain_pem: pems.slice(1).join(''),
      not_before: v.not_before.toISOString(),
      not_after: v.not_after.toISOString(),
    };
  }

  /** Self-binding for agent keys (403), then the agent must exist (404) and be active (410). */
  private async requireAgent(actor: Principal, agentId: string, m?: EntityManager): Promise<void> {
    if (actor.actorType === 'Agent' && actor.actorId !== agentId) {
      throw forbidden(`an agent may only act as itself (${actor.actorId}), not as ${agentId}`);
    }
    const agent = await this.repo.agent(agentId, m);
    if (!agent) throw notFound('agent', agentId);
    if (agent.retired_at) {
      throw gone(`agent ${JSON.stringify(agentId)} was retired at ${agent.retired_at.toISOString()}; it should stop`);
    }
  }
}
