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
import { isPendingOrder, type IssuanceRequest, type IssuanceResult, type OrderStatus } from '@certctl/connectors';
import {
  buildCsr,
  derToPem,
  describePublicKey,
  effectiveSans,
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
import { formatDuration, JobEngineRepository } from '../jobs/job-engine.repository';
import { JobFactory } from '../jobs/job-factory';
import { isPermanentJobFailure } from '../jobs/job-failure';
import { JobEntity } from '../jobs/job.entity';
import { checkSan } from '../certificates/names';
import { PolicyEvaluationService } from '../policies/policy-evaluation.service';
import { SecretBox } from '../secrets/secret-box';
import { versionKeyContext } from '../secrets/seal-contexts';
import { IssuerOrderQueue, orderPollDelayMs } from './issuer-order-queue';
import { IssuerOrdersRepository, type IssuerOrderRow } from './issuer-orders.repository';

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

/** An asynchronous CA accepted the order: the job waits (AwaitingIssuer) and the server polls. */
export interface PendingIssuance {
  state: 'AwaitingIssuer';
  job_id: string;
  certificate_id: string;
  issuer_id: string;
  order_id: string;
}

/** What one poll of a pending order did (for logs and tests). */
export type OrderPollResult = 'issued' | 'pending' | 'rejected' | 'timed-out' | 'unreachable' | 'not-due';

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
    private readonly orders: IssuerOrdersRepository,
    private readonly orderQueue: IssuerOrderQueue,
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
      if (await this.orders.forJob(job.id)) {
        // A retry after the CA was unreachable while polling: the order stands, poll it again
        // (ordering a second time would buy a second certificate).
        await this.orders.dueNow(job.id);
        await this.orderQueue.schedule(job.id, this.config.issuance.orderPoll.initialMs, job.attempts);
        return 'AwaitingIssuer';
      }
      const enrollment = await this.enrollmentCsr(job.id);
      if (enrollment) {
        // EST/SCEP: the device's CSR waited for this job (and its approval, when gated).
        const csr = await parseCsr(enrollment.csr_pem, { allowSha1: true });
        const actor = { actorId: enrollment.requested_by, actorType: 'Device' as const };
        const done = await this.issue(job, cert, await this.profile(cert.profile_id), { csr }, actor);
        return 'order_id' in done ? 'AwaitingIssuer' : 'Completed';
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
      const done = await this.issueWithServerKey(job, cert);
      return 'order_id' in done ? 'AwaitingIssuer' : 'Completed';
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
  async submitCsr(actor: Principal, input: SubmitCsrInput): Promise<IssuedVersion | PendingIssuance> {
    const job = await this.claimAwaitingCsr(input);
    try {
      const cert = await this.certificate(input.certificateId);
      this.assertIssuable(cert);
      const csr = await parseCsr(input.csrPem).catch((e: unknown) => {
        throw e instanceof DomainError ? invalid(`csr_pem: ${e.message}`, e.details) : invalid('csr_pem: not a CSR');
      });
      const issued = await this.issue(job, cert, await this.profile(cert.profile_id), { csr }, actor);
      await this.jobs.finish(job.id, 'order_id' in issued ? 'AwaitingIssuer' : 'Completed');
      return issued;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const permanent = isPermanentJobFailure(e);
      // The certificate first: a caller that sees the job Failed sees the certificate's state.
      if (permanent) await this.setCertStatus(input.certificateId, 'Failed');
      await this.jobs.finish(job.id, 'Failed', message, false);
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

  private async issueWithServerKey(job: JobEntity, cert: CertForIssuance): Promise<IssuedVersion | PendingIssuance> {
    const profile = await this.profile(cert.profile_id);
    const alg = serverKeyAlgorithm(profile?.allowed_key_algorithms);
    const keys = await generateKeyPair(alg);
    const keyPem = exportPrivateKeyPem(keys.privateKey);
    const publicKeySpki = spkiDerOf(keys.publicKey);
    const keyInfo = describePublicKey(publicKeySpki, 'server key');
    // Remote CAs (DigiCert, Vault, ...) sign CSRs only: the server's key signs one too.
    // The CN joins the SANs, as in the certificate: ACME CAs sign only the names a CSR lists as SANs.
    const sans = effectiveSans(cert.common_name, sanKinds(cert.sans));
    const serverCsr = await parseCsr(await buildCsr({ keys, commonName: cert.common_name, sans }));
    return this.issue(job, cert, profile, { publicKeySpki, keyPem, keyInfo, serverCsr }, SYSTEM_ACTOR);
  }

  private async issue(
    job: JobEntity,
    cert: CertForIssuance,
    /** Read once by the caller (server keygen picks its key algorithm from it). */
    profile: CertificateProfileRules | undefined,
    key:
      { csr: ParsedCsr } | { publicKeySpki: Uint8Array; keyPem: string; keyInfo: PublicKeyInfo; serverCsr: ParsedCsr },
    actor: Pick<Principal, 'actorId' | 'actorType'>,
  ): Promise<IssuedVersion | PendingIssuance> {
    if (!cert.issuer_id) throw invalid(`certificate ${cert.id} has no issuer_id`);
    const sans = sanKinds(cert.sans);
    const request: IssuanceRequest = {
      commonName: cert.common_name,
      sans,
      profile,
      ...('csr' in key ? { csr: key.csr } : { publicKeySpki: key.publicKeySpki, csr: key.serverCsr }),
    };
    if (profile) {
      // The full profile verdict on the key and the certificate's names, whoever made the key: the
      // Local CA checks again when it signs, but a remote CA (ACME, Vault, DigiCert, ...) signs
      // whatever names it may, so this is the profile's only gate on that path.
      const csr = 'csr' in key ? key.csr : key.serverCsr;
      validateCsrAgainstProfile({ ...csr, commonName: cert.common_name, sans }, profile);
    }
    const { connector, ca, issuer } = await this.connectors.forIssuance(cert.issuer_id);
    if (job.type === JobType.Renewal) request.replacesCertPem = await this.replacedLeaf(cert.id, issuer.id);
    const outcome = job.type === JobType.Renewal ? await connector.renew(request) : await connector.issue(request);
    const keyInfo: PublicKeyInfo = 'csr' in key ? key.csr.publicKey : key.keyInfo;
    const versionId = newId(IdPrefix.CertificateVersion);
    const sealedKey =
      'keyPem' in key ? await this.box.seal({ private_key_pem: key.keyPem }, versionKeyContext(versionId)) : null;
    if (isPendingOrder(outcome)) {
      return this.awaitOrder(job, cert, issuer.id, outcome, {
        versionId,
        csrPem: derToPem(('csr' in key ? key.csr : key.serverCsr).der, 'CERTIFICATE REQUEST'),
        sealedKey,
        keyInfo,
        actor,
      });
    }
    const result = outcome;
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

  /** The leaf a renewal replaces: the current version's, when the same issuer signed it (ACME `replaces`). */
  private async replacedLeaf(certificateId: string, issuerId: string): Promise<string | undefined> {
    const current = rowsOf<{ pem_chain: string; issuer_id: string | null }>(
      await this.ds.query(
        `SELECT pem_chain, issuer_id FROM certificate_versions WHERE certificate_id = $1
          ORDER BY created_at DESC, id DESC LIMIT 1`,
        [certificateId],
      ),
    )[0];
    if (current?.issuer_id !== issuerId) return undefined;
    const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(current.pem_chain);
    return leaf ? `${leaf[0]}\n` : undefined;
  }

  /**
   * The CA accepted the order without issuing yet: everything recording needs later (the
   * CSR or the sealed server key, the version id that key is sealed to, who asked) waits in
   * issuer_orders with the job (AwaitingIssuer once the caller finishes it), and the first
   * poll is scheduled.
   */
  private async awaitOrder(
    job: JobEntity,
    cert: CertForIssuance,
    issuerId: string,
    order: { orderId: string; retryAfterSeconds?: number },
    w: {
      versionId: string;
      csrPem: string;
      sealedKey: Buffer | null;
      keyInfo: PublicKeyInfo;
      actor: Pick<Principal, 'actorId' | 'actorType'>;
    },
  ): Promise<PendingIssuance> {
    const poll = this.config.issuance.orderPoll;
    const delayMs = orderPollDelayMs(poll, 0, order.retryAfterSeconds);
    const now = Date.now();
    await this.ds.transaction(async (m) => {
      await this.orders.insert(m, {
        job_id: job.id,
        certificate_id: cert.id,
        issuer_id: issuerId,
        order_id: order.orderId,
        version_id: w.versionId,
        csr_pem: w.csrPem,
        sealed_private_key: w.sealedKey,
        key_algorithm: w.keyInfo.algorithm,
        key_size: w.keyInfo.size,
        actor_id: w.actor.actorId,
        actor_type: w.actor.actorType,
        firstPollAt: new Date(now + delayMs),
        deadlineAt: new Date(now + poll.timeoutMs),
      });
      await this.audit.recordDomain(m, w.actor, 'certificate_order_placed', 'certificate', cert.id, {
        job_id: job.id,
        issuer_id: issuerId,
        order_id: order.orderId,
      });
    });
    await this.orderQueue.schedule(job.id, delayMs, 0);
    return {
      state: 'AwaitingIssuer',
      job_id: job.id,
      certificate_id: cert.id,
      issuer_id: issuerId,
      order_id: order.orderId,
    };
  }

  /**
   * One poll of a job's pending CA order, by whichever replica leases it first. Issued: the
   * certificate is recorded exactly as a synchronous issuance (version, status, audit,
   * deployment jobs) and the job completes in the same transaction. Rejected or past the
   * deadline: the job fails for good with the reason. CA unreachable (error or no answer
   * within CERTCTL_ISSUER_POLL_TIMEOUT): the job fails with attempts left, and the retry
   * loop requeues it, which resumes polling the same order.
   */
  async pollOrder(jobId: string): Promise<OrderPollResult> {
    const poll = this.config.issuance.orderPoll;
    const order = await this.orders.lease(jobId, poll.requestTimeoutMs + 30_000);
    if (!order) return 'not-due';
    const what = `issuer ${order.issuer_id} order ${order.order_id}`;
    if (new Date(order.deadline_at).getTime() <= Date.now()) {
      await this.failOrder(
        order,
        `timed out: ${what} still pending after ${formatDuration(poll.timeoutMs)} (CERTCTL_ISSUER_ORDER_TIMEOUT)`,
        true,
      );
      return 'timed-out';
    }
    let status: OrderStatus;
    try {
      const { connector } = await this.connectors.forOrder(order.issuer_id);
      const { spkiDer } = await parseCsr(order.csr_pem, { allowSha1: true });
      status = await withDeadline(connector.getOrderStatus(order.order_id, { spkiDer }), poll.requestTimeoutMs);
    } catch (e) {
      // Outages (transport errors, 5xx, no answer in time) and rate limits leave attempts for
      // the retry loop; a CA refusing the request itself (4xx: credentials, unknown order) does not.
      const message = e instanceof Error ? e.message : String(e);
      const permanent = isPermanentJobFailure(e);
      this.logger.warn(`${what}: poll failed${permanent ? '' : `, job ${jobId} will be retried`}: ${message}`);
      await this.failOrder(order, `${what}: the CA could not be polled: ${message}`, permanent);
      return 'unreachable';
    }
    if (status.state === 'pending') {
      const delayMs = orderPollDelayMs(poll, order.polls, status.retryAfterSeconds);
      await this.orders.reschedule(jobId, delayMs, 'pending');
      await this.orderQueue.schedule(jobId, delayMs, order.polls);
      return 'pending';
    }
    if (status.state === 'failed') {
      await this.failOrder(order, `${what} was rejected by the CA: ${status.message}`, true);
      return 'rejected';
    }
    await this.recordOrder(order, status.result);
    return 'issued';
  }

  private async recordOrder(order: IssuerOrderRow, result: IssuanceResult): Promise<void> {
    const job = await this.ds.getRepository(JobEntity).findOneBy({ id: order.job_id });
    if (!job) return;
    const cert = await this.certificate(order.certificate_id);
    await this.ds.transaction(async (m) => {
      if (!(await this.orders.completeJob(m, order.job_id))) return; // cancelled meanwhile
      await this.record(m, {
        job,
        cert,
        result,
        versionId: order.version_id,
        issuerId: order.issuer_id,
        caId: null,
        // Server key generation records no CSR (as a synchronous issuance), only the sealed key.
        csrPem: order.sealed_private_key ? null : order.csr_pem,
        keyAlgorithm: order.key_algorithm,
        keySize: order.key_size,
        sealedKey: order.sealed_private_key,
        actor: { actorId: order.actor_id, actorType: order.actor_type },
      });
      await this.orders.remove(m, order.job_id);
    });
  }

  private async failOrder(order: IssuerOrderRow, message: string, permanent: boolean): Promise<void> {
    // One transaction: whoever sees the job Failed for good also sees the certificate Failed.
    await this.ds.transaction(async (m) => {
      const failed = await this.orders.failJob(m, order.job_id, message, permanent);
      if (failed && (permanent || failed.attemptsLeft === 0)) {
        await this.setCertStatus(order.certificate_id, 'Failed', m);
        await this.orders.remove(m, order.job_id);
      }
    });
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

  private async setCertStatus(id: string, status: string, m: EntityManager = this.ds.manager): Promise<void> {
    await m.query(
      `UPDATE managed_certificates SET status = $2, updated_at = now()
        WHERE id = $1 AND archived_at IS NULL AND status NOT IN ('Revoked', 'Archived')`,
      [id, status],
    );
  }

  /** A job that will not be retried leaves its certificate Failed (visible in lists and stats). */
  private async markFailedWhenPermanent(job: JobEntity, e: unknown): Promise<void> {
    const permanent = isPermanentJobFailure(e);
    const lastAttempt = job.attempts >= job.maxAttempts;
    if (job.certificateId && (permanent || lastAttempt)) await this.setCertStatus(job.certificateId, 'Failed');
  }
}

/** Rejects when `p` has not settled within `ms` (a CA that accepts the connection and never answers). */
async function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${formatDuration(ms)}`)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
