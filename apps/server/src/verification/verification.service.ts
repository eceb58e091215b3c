import { Injectable } from '@nestjs/common';
import { conflict, DomainError, ErrorCode, forbidden, invalid, JobStatus, JobType, notFound } from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import { plausibleId } from '../certificates/certificate-input';
import type { Principal } from '../http/request-context';
import { normalizeFingerprint, type ReportVerificationDto, type VerificationDto } from './dto/verification.dto';
import { VerificationRepository, type VerificationRow } from './verification.repository';

/** A verification describes a deployment that was carried out (or attempted): the job was claimed. */
const VERIFIABLE: readonly JobStatus[] = [JobStatus.Running, JobStatus.Completed, JobStatus.Failed];

function toDto(r: VerificationRow): VerificationDto {
  return {
    job_id: r.job_id,
    certificate_id: r.certificate_id,
    target_id: r.target_id,
    version_id: r.version_id,
    verified: r.verified,
    expected_fingerprint: r.expected_fingerprint,
    served_fingerprint: r.served_fingerprint,
    endpoint: r.endpoint,
    error: r.error,
    verified_at: r.verified_at.toISOString(),
    reported_by: r.reported_by,
  };
}

/**
 * Post-deployment TLS verification results. The agent probes the endpoint after a
 * deployment and reports whether the served leaf is the one it deployed; the server keeps
 * the latest result per job. Best-effort by design: a failed verification changes neither
 * the job nor the certificate, it is recorded and audited for operators to see.
 */
@Injectable()
export class VerificationService {
  constructor(
    private readonly repo: VerificationRepository,
    private readonly audit: AuditRepository,
  ) {}

  async report(actor: Principal, jobId: string, body: ReportVerificationDto): Promise<VerificationDto> {
    if (!plausibleId(jobId)) throw notFound('job', jobId);
    const expected = normalizeFingerprint(body.expected_fingerprint);
    const served = body.served_fingerprint == null ? null : normalizeFingerprint(body.served_fingerprint);
    const error = body.error?.trim() || null;
    const endpoint = body.endpoint?.trim() || null;
    if (body.verified) {
      if (served === null) throw invalid('body.served_fingerprint: required when verified is true');
      if (served !== expected) {
        throw invalid('body.served_fingerprint: differs from expected_fingerprint, so verified cannot be true');
      }
      if (error !== null) throw invalid('body.error: only allowed when verified is false');
    } else if (error === null && (served === null || served === expected)) {
      throw invalid(
        'body.error: required when verified is false, unless served_fingerprint shows a different certificate',
      );
    }

    return this.repo.transaction(async (m) => {
      const job = await this.repo.job(m, jobId);
      if (!job) throw notFound('job', jobId);
      if (actor.actorType === 'Agent' && job.agent_id !== actor.actorId) {
        throw forbidden(
          `job ${JSON.stringify(jobId)} is not routed to agent ${actor.actorId}; an agent verifies its own`,
        );
      }
      if (job.type !== JobType.Deployment) {
        throw conflict(`job ${JSON.stringify(jobId)} is a ${job.type} job: only Deployment jobs are verified`);
      }
      if (!VERIFIABLE.includes(job.status)) {
        throw conflict(
          `job ${JSON.stringify(jobId)} is ${job.status}: verify a deployment once it was claimed (Running, Completed or Failed)`,
        );
      }
      if (job.version_fingerprint !== null && job.version_fingerprint !== expected) {
        throw invalid(
          `body.expected_fingerprint: job ${JSON.stringify(jobId)} deployed version ${job.version_id} ` +
            `whose fingerprint is ${job.version_fingerprint}`,
        );
      }
      const saved = await this.repo.upsert(m, jobId, {
        verified: body.verified,
        expectedFingerprint: expected,
        servedFingerprint: served,
        endpoint,
        error,
        reportedBy: actor.actorId,
        reportedByType: actor.actorType,
      });
      await this.audit.recordDomain(
        m,
        actor,
        body.verified ? 'deployment_verified' : 'deployment_verification_failed',
        'certificate',
        job.certificate_id ?? jobId,
        {
          job_id: jobId,
          agent_id: job.agent_id,
          target_id: job.target_id,
          version_id: job.version_id,
          verified: body.verified,
          expected_fingerprint: expected,
          served_fingerprint: served,
          endpoint,
          ...(error ? { error } : {}),
        },
      );
      return toDto(saved);
    });
  }

  async latest(jobId: string): Promise<VerificationDto> {
    if (!plausibleId(jobId)) throw notFound('job', jobId);
    const row = await this.repo.find(jobId);
    if (row) return toDto(row);
    if (!(await this.repo.jobExists(jobId))) throw notFound('job', jobId);
    throw new DomainError(ErrorCode.NotFound, `job ${JSON.stringify(jobId)} has no verification result`);
  }
}
