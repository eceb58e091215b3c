import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import {
  conflict,
  DomainError,
  ErrorCode,
  IdPrefix,
  invalid,
  JobType,
  newId,
  notFound,
  type KeyAlgorithmRule,
} from '@certctl/domain';
import type { IssuanceRequest, IssuanceResult } from '@certctl/connectors';
import {
  derToPem,
  describePublicKey,
  exportPrivateKeyPem,
  generateKeyPair,
  parseCsr,
  spkiDerOf,
  validateCsrAgainstProfile,
  type CertificateProfileRules,
  type KeyAlgorithm,
  type ParsedCsr,
  type PublicKeyInfo,
  type SubjectAltNames,
} from '@certctl/pki';
import { AuditRepository, SYSTEM_ACTOR } from '../audit/audit.repository';
import { IssuerConnectors } from '../ca/issuer-connectors';
import { AppConfig } from '../config/config.schema';
import { rowsOf } from '../database/sql';
import type { Principal } from '../http/request-context';
import { JobHandlerRegistry, type JobOutcome } from '../jobs/job-engine';
import { JobEngineRepository } from '../jobs/job-engine.repository';
import { JobFactory } from '../jobs/job-factory';
import { JobEntity } from '../jobs/job.entity';
import { checkSan } from '../certificates/names';
import { PolicyEvaluationService } from '../policies/policy-evaluation.service';
import { SecretBox } from '../secrets/secret-box';
import { versionKeyContext } from '../secrets/secrets.module';

/** The managed certificate as issuance needs it. */
interface CertForIssuance {
  id: string;
  common_name: string;
  sans: string[];
  status: string;
  issuer_id: string | null;
  profile_id: string | null;
  agent_id: string | null;
  archived_at: Date | null;
}

/** A certificate version just recorded. */
export interface IssuedVersion {
  version_id: string;
  certificate_id: string;
  job_id: string;
  serial_number: string;
  fingerprint_sha256: string;
  certificate_pem: string;
  chain_pem: string;
  not_before: string;
  not_after: string;
  deployment_job_ids: string[];
}

export interface SubmitCsrInput {
  agentId: string;
  certificateId: string;
  csrPem: string;
  /** The AwaitingCSR job; default: the certificate's open one routed to this agent. */
  jobId?: string;
}

/** Server keygen picks the first algorithm the profile allows (ECDSA P-256 when it says nothing). */
export function serverKeyAlgorithm(rules: readonly KeyAlgorithmRule[] | undefined): KeyAlgorithm {
  const first = rules?.[0];
  if (!first) return 'ECDSA-P256';
  switch (first.algorithm) {
    case 'ECDSA':
      return (first.min_size ?? 256) > 256 ? 'ECDSA-P384' : 'ECDSA-P256';
    case 'RSA': {
      const min = first.min_size ?? 2048;
      return min > 3072 ? 'RSA-4096' : min > 2048 ? 'RSA-3072' : 'RSA-2048';
    }
    case 'Ed25519':
      return 'Ed25519';
  }
}

/** Splits stored SAN strings (already canonical) into the four kinds. */
export function sanKinds(sans: readonly string[]): SubjectAltNames {
  const out: SubjectAltNames = { dns: [], ip: [], email: [], uri: [] };
  for (const s of sans) {
    const r = checkSan(s);
    if (!r.ok) throw invalid(`certificate.sans: "${s}" ${r.error}`);
    out[r.value.type].push(r.value.value);
  }
  return out;
}

/**
 * Issuance and renewal: the job handler (server keygen, or waiting for the agent's CSR)
 * and the agent's CSR submission. Names always come from the managed certificate; a CSR
 * only contributes its public key (and must prove possession of it), checked against the
 * certificate's profile before anything reaches the issuer. Recording is one transaction:
 * version, certificate status and expiry, audit row, and deployment jobs for mapped targets.
 */
@Injectable()
export class IssuanceService implements OnModuleInit {
  private readonly logger = new Logger(IssuanceService.name);

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly handlers: JobHandlerRegistry,
    private readonly connectors: IssuerConnectors,
    private readonly jobs: JobEngineRepository,
    private readonly factory: JobFactory,
    private readonly audit: AuditRepository,
    private readonly policies: PolicyEvaluationService,
    private readonly box: SecretBox,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    if (this.config.issuance.keygenMode === 'server') {
      this.logger.warn(
        'CERTCTL_KEYGEN_MODE=server: the server generates and stores private keys (sealed). Demo only: use agent mode in production.',
      );
    }
    const run = (job: JobEntity) => this.runJob(job);
    this.handlers.register(JobType.Issuance, run);
    this.handlers.register(JobType.Renewal, run);
  }

  /** The job handler for Issuance and Renewal jobs (the row is already Running). */
  async runJob(job: JobEntity): Promise<JobOutcome> {
    try {
      if (!job.certificateId) throw invalid(`job ${job.id} has no certificate_id`);
      const cert = await this.certificate(job.certificateId);
      this.assertIssuable(cert);
      const enrollment = await this.enrollmentCsr(job.id);
      if (enrollment) {
        // EST/SCEP: the device's CSR waited for this job (and its approval, when gated).
        const csr = await parseCsr(enrollment.csr_pem, { allowSha1: true });
        const actor = { actorId: enrollment.requested_by, actorType: 'Device' as const };
        await this.issue(job, cert, await this.profile(cert.profile_id), { csr }, actor);
        return 'Completed';
      }
      if (this.config.issuance.keygenMode === 'agent') {
        if (!cert.agent_id) {
          throw invalid(
            `certificate ${cert.id} has no agent_id: in agent keygen mode an agent generates the key (assign an agent, or run the server with CERTCTL_KEYGEN_MODE=server for demos)`,
          );
        }
        await this.ds.transaction(async (m) => {
          await m.query(`UPDATE jobs SET agent_id = $2, updated_at = now() WHERE id = $1`, [job.id, cert.agent_id]);
          await m.query(
            `UPDATE managed_certificates SET status = 'RenewalInProgress', updated_at = now()
              WHERE id = $1 AND status IN ('Active', 'Expiring', 'Expired', 'Failed')`,
            [cert.id],
          );
        });
        return 'AwaitingCSR';
      }
      await this.issueWithServerKey(job, cert);
      return 'Completed';
    } catch (e) {
      await this.markFailedWhenPermanent(job, e);
      throw e;
    }
  }

  /**
   * The agent's CSR for an AwaitingCSR job: claims the job (AwaitingCSR -> Running, only for
   * the agent it is routed to), issues, and completes it. A bad CSR or a policy violation
   * fails the job (the agent may retry with a new CSR after the retry loop requeues it)
   * and answers 400 naming the rule.
   */
  async submitCsr(actor: Principal, input: SubmitCsrInput): Promise<IssuedVersion> {
    const job = await this.claimAwaitingCsr(input);
    try {
      const cert = await this.certificate(input.certificateId);
      this.assertIssuable(cert);
      const csr = await parseCsr(input.csrPem).catch((e: unknown) => {
        throw e instanceof DomainError ? invalid(`csr_pem: ${e.message}`, e.details) : invalid('csr_pem: not a CSR');
      });
      const issued = await this.issue(job, cert, await this.profile(cert.profile_id), { csr }, actor);
      await this.jobs.finish(job.id, 'Completed');
      return issued;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const permanent = e instanceof DomainError && e.code !== ErrorCode.Unavailable;
      await this.jobs.finish(job.id, 'Failed', message, false);
      if (permanent) await this.setCertStatus(input.certificateId, 'Failed');
      throw e;
    }
  }

  private async claimAwaitingCsr(input: SubmitCsrInput): Promise<JobEntity> {
    const rows = rowsOf<{ id: string }>(
      await this.ds.query(
        `UPDATE jobs SET status = 'Running', started_at = now(), updated_at = now()
          WHERE id = (
            SELECT id FROM jobs
             WHERE certificate_id = $1 AND agent_id = $2 AND status = 'AwaitingCSR'
               AND type IN ('Issuance', 'Renewal') AND ($3::text IS NULL OR id = $3)
             ORDER BY created_at LIMIT 1
             FOR UPDATE SKIP LOCKED)
          RETURNING id`,
        [input.certificateId, input.agentId, input.jobId ?? null],
      ),
    );
    const id = rows[0]?.id;
    if (!id) {
      throw conflict(
        `no job of certificate ${input.certificateId} is waiting for a CSR from agent ${input.agentId}${
          input.jobId ? ` (job ${input.jobId})` : ''
        }`,
      );
    }
    const job = await this.ds.getRepository(JobEntity).findOneBy({ id });
    if (!job) throw notFound('job', id);
    return job;
  }

  private async enrollmentCsr(jobId: string): Promise<{ csr_pem: string; requested_by: string } | undefined> {
    return rowsOf<{ csr_pem: string; requested_by: string }>(
      await this.ds.query(
        `SELECT csr_pem, requested_by FROM enrollment_requests WHERE job_id = $1 AND status = 'pending'`,
        [jobId],
      ),
    )[0];
  }

  private async issueWithServerKey(job: JobEntity, cert: CertForIssuance): Promise<IssuedVersion> {
    const profile = await this.profile(cert.profile_id);
    const alg = serverKeyAlgorithm(profile?.allowed_key_algorithms);
    const keys = await generateKeyPair(alg);
    const keyPem = exportPrivateKeyPem(keys.privateKey);
    const publicKeySpki = spkiDerOf(keys.publicKey);
    const keyInfo = describePublicKey(publicKeySpki, 'server key');
    return this.issue(job, cert, profile, { publicKeySpki, keyPem, keyInfo }, SYSTEM_ACTOR);
  }

  private async issue(
    job: JobEntity,
    cert: CertForIssuance,
    /** Read once by the caller (server keygen picks its key algorithm from it). */
    profile: CertificateProfileRules | undefined,
    key: { csr: ParsedCsr } | { publicKeySpki: Uint8Array; keyPem: string; keyInfo: PublicKeyInfo },
    actor: Pick<Principal, 'actorId' | 'actorType'>,
  ): Promise<IssuedVersion> {
    if (!cert.issuer_id) throw invalid(`certificate ${cert.id} has no issuer_id`);
    const sans = sanKinds(cert.sans);
    const request: IssuanceRequest = {
      commonName: cert.common_name,
      sans,
      profile,
      ...('csr' in key ? { csr: key.csr } : { publicKeySpki: key.publicKeySpki }),
    };
    if ('csr' in key && profile) {
      // The full profile verdict on the CSR's key (names are the certificate's, checked again by issueLeaf).
      validateCsrAgainstProfile({ ...key.csr, commonName: cert.common_name, sans }, profile);
    }
    const { connector, ca, issuer } = await this.connectors.forIssuance(cert.issuer_id);
    const result = job.type === JobType.Renewal ? await connector.renew(request) : await connector.issue(request);
    const keyInfo: PublicKeyInfo = 'csr' in key ? key.csr.publicKey : key.keyInfo;
    const versionId = newId(IdPrefix.CertificateVersion);
    const sealedKey =
      'keyPem' in key ? await this.box.seal({ private_key_pem: key.keyPem }, versionKeyContext(versionId)) : null;
    const created = await this.ds.transaction((m) =>
      this.record(m, {
        job,
        cert,
        result,
        versionId,
        issuerId: issuer.id,
        caId: ca?.row.id ?? null,
        csrPem: 'csr' in key ? derToPem(key.csr.der, 'CERTIFICATE REQUEST') : null,
        keyAlgorithm: keyInfo.algorithm,
        keySize: keyInfo.size,
        sealedKey,
        actor,
      }),
    );
    return created;
  }

  private async record(
    m: EntityManager,
    r: {
      job: JobEntity;
      cert: CertForIssuance;
      result: IssuanceResult;
      versionId: string;
      issuerId: string;
      caId: string | null;
      csrPem: string | null;
      keyAlgorithm: string;
      keySize: number;
      sealedKey: Buffer | null;
      actor: Pick<Principal, 'actorId' | 'actorType'>;
    },
  ): Promise<IssuedVersion> {
    const { result } = r;
    if (r.caId) {
      // A CA retired (or set draining) after it signed but before this commit: record nothing,
      // retry (the retry signs with the CA that issues now). FOR SHARE makes retire wait for us.
      const ca = rowsOf<{ state: string }>(
        await m.query(`SELECT state FROM issuer_cas WHERE id = $1 FOR SHARE`, [r.caId]),
      )[0];
      if (ca?.state !== 'active') {
        throw new DomainError(ErrorCode.Unavailable, `CA ${r.caId} stopped issuing while this certificate was signed`);
      }
    }
    await m.query(
      `INSERT INTO certificate_versions
         (id, certificate_id, serial_number, fingerprint_sha256, pem_chain, csr_pem, not_before, not_after,
          key_algorithm, key_size, issuer_id, ca_id, job_id, sealed_private_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [
        r.versionId,
        r.cert.id,
        result.serialHex,
        result.fingerprintSha256,
        result.certPem + result.chainPem,
        r.csrPem,
        result.notBefore,
        result.notAfter,
        r.keyAlgorithm,
        r.keySize,
        r.issuerId,
        r.caId,
        r.job.id,
        r.sealedKey,
      ],
    );
    await m.query(
      `UPDATE managed_certificates SET status = 'Active', expires_at = $2, updated_at = now()
        WHERE id = $1 AND archived_at IS NULL`,
      [r.cert.id, result.notAfter],
    );
    // An EST/SCEP request waiting on this job is answered by this version.
    const enrollment = rowsOf<{ protocol: string }>(
      await m.query(
        `UPDATE enrollment_requests SET status = 'issued', version_id = $2, updated_at = now()
          WHERE job_id = $1 AND status = 'pending' RETURNING protocol`,
        [r.job.id, r.versionId],
      ),
    )[0];
    const targets = rowsOf<{ target_id: string; agent_id: string | null }>(
      await m.query(
        `SELECT ctm.target_id, t.agent_id
           FROM certificate_target_mappings ctm JOIN deployment_targets t ON t.id = ctm.target_id
          WHERE ctm.certificate_id = $1
          ORDER BY ctm.target_id`,
        [r.cert.id],
      ),
    );
    const deploymentJobIds: string[] = [];
    for (const t of targets) {
      const created = await this.factory.create(m, {
        type: JobType.Deployment,
        certificateId: r.cert.id,
        targetId: t.target_id,
        agentId: t.agent_id,
      });
      deploymentJobIds.push(created.id);
    }
    await this.policies.evaluateCertificate(m, r.cert.id);
    await this.audit.recordDomain(
      m,
      r.actor,
      r.job.type === JobType.Renewal ? 'certificate_renewed' : 'certificate_issued',
      'certificate',
      r.cert.id,
      {
        job_id: r.job.id,
        version_id: r.versionId,
        serial_number: result.serialHex,
        issuer_id: r.issuerId,
        ca_id: r.caId,
        not_after: result.notAfter.toISOString(),
        key_algorithm: r.keyAlgorithm,
        keygen: enrollment ? 'device' : r.csrPem ? 'agent' : 'server',
        ...(enrollment ? { protocol: enrollment.protocol } : {}),
        deployment_job_ids: deploymentJobIds,
      },
    );
    return {
      version_id: r.versionId,
      certificate_id: r.cert.id,
      job_id: r.job.id,
      serial_number: result.serialHex,
      fingerprint_sha256: result.fingerprintSha256,
      certificate_pem: result.certPem,
      chain_pem: result.chainPem,
      not_before: result.notBefore.toISOString(),
      not_after: result.notAfter.toISOString(),
      deployment_job_ids: deploymentJobIds,
    };
  }

  private assertIssuable(cert: CertForIssuance): void {
    if (cert.archived_at) throw conflict(`certificate ${cert.id} is archived`);
    if (cert.status === 'Revoked') {
      throw conflict(`certificate ${cert.id} is revoked; create a new certificate instead of renewing it`);
    }
    if (!cert.issuer_id) throw invalid(`certificate ${cert.id} has no issuer_id`);
  }

  private async certificate(id: string): Promise<CertForIssuance> {
    const row = rowsOf<CertForIssuance>(
      await this.ds.query(
        `SELECT id, common_name, sans, status, issuer_id, profile_id, agent_id, archived_at
           FROM managed_certificates WHERE id = $1`,
        [id],
      ),
    )[0];
    if (!row) throw notFound('certificate', id);
    return row;
  }

  private async profile(id: string | null): Promise<CertificateProfileRules | undefined> {
    if (!id) return undefined;
    const row = rowsOf<CertificateProfileRules>(
      await this.ds.query(
        `SELECT allowed_key_algorithms, max_ttl_seconds, allowed_ekus, san_rules, must_staple
           FROM certificate_profiles WHERE id = $1`,
        [id],
      ),
    )[0];
    if (!row) throw notFound('profile', id);
    return row;
  }

  private async setCertStatus(id: string, status: string): Promise<void> {
    await this.ds.query(
      `UPDATE managed_certificates SET status = $2, updated_at = now()
        WHERE id = $1 AND archived_at IS NULL AND status NOT IN ('Revoked', 'Archived')`,
      [id, status],
    );
  }

  /** A job that will not be retried leaves its certificate Failed (visible in lists and stats). */
  private async markFailedWhenPermanent(job: JobEntity, e: unknown): Promise<void> {
    const permanent = e instanceof DomainError && e.code !== ErrorCode.Unavailable && e.code !== ErrorCode.RateLimited;
    const lastAttempt = job.attempts >= job.maxAttempts;
    if (job.certificateId && (permanent || lastAttempt)) await this.setCertStatus(job.certificateId, 'Failed');
  }
}
