import { createHash } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Counter } from 'prom-client';
import { DataSource, type EntityManager } from 'typeorm';
import { conflict, DomainError, ErrorCode, IdPrefix, invalid, JobType, newId, type ActorType } from '@certctl/domain';
import {
  derToPem,
  validateCsrAgainstProfile,
  type CertificateProfileRules,
  type ParsedCsr,
  type SubjectAltNames,
} from '@certctl/pki';
import { AuditRepository } from '../audit/audit.repository';
import { MAX_COMMON_NAME_LENGTH } from '../certificates/names';
import { rowsOf } from '../database/sql';
import { JobRunner } from '../jobs/job-engine';
import { JobFactory } from '../jobs/job-factory';
import { MetricsService } from '../metrics/metrics.service';

export type EnrollmentProtocol = 'EST' | 'SCEP' | 'ACME';

/** Where a request goes: a protocol label mapped to an issuer and a profile. */
export interface EnrollmentTarget {
  protocol: EnrollmentProtocol;
  label: string;
  issuerId: string;
  profileId?: string;
}

export interface EnrollmentActor {
  actorId: string;
  actorType: ActorType;
}

export interface EnrollInput {
  target: EnrollmentTarget;
  csr: ParsedCsr;
  /** Who the enrollment credential says is asking (`est:<label>:<user>`, `scep:<label>`, ...). */
  actor: EnrollmentActor;
  sourceIp?: string;
  /** SCEP transactionID: a resent request finds its first one. */
  transactionId?: string;
  /** Re-enrollment of a certificate we issued (EST simplereenroll, SCEP RenewalReq). */
  renew?: { certificateId: string; allowNameChange: boolean };
}

export interface IssuedEnrollment {
  serialNumber: string;
  /** DER of the issued certificate, then of its chain (issuing CA first). */
  certDer: Buffer;
  chainDer: Buffer[];
  certificatePem: string;
  notAfter: Date;
}

export type EnrollmentOutcome =
  | { status: 'issued'; requestId: string; certificateId: string; issued: IssuedEnrollment }
  | { status: 'pending'; requestId: string; certificateId: string; jobId: string; retryAfterSeconds: number }
  | { status: 'failed'; requestId: string; certificateId: string; reason: string };

/** The certificate a TLS client or SCEP signer presented, when we issued it. */
export interface PresentedCertificate {
  certificateId: string;
  versionId: string;
  status: string;
  archived: boolean;
  revoked: boolean;
  notAfter: Date;
  latest: boolean;
  commonName: string;
  sans: string[];
  enrolledVia: EnrollmentProtocol | null;
}

interface RequestRow {
  id: string;
  certificate_id: string;
  job_id: string;
  spki_sha256: string;
  status: 'pending' | 'issued' | 'failed';
  error: string | null;
  pem_chain: string | null;
  serial_number: string | null;
  not_after: Date | null;
  job_status: string;
  last_error: string | null;
  attempts: number;
  max_attempts: number;
  /** The job waited for an approval request. */
  gated: boolean;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
/** How long a synchronous enrollment waits for a job another replica happened to claim. */
const CLAIMED_ELSEWHERE_WAIT_MS = 10_000;
/** How long a decided (approved or rejected) request answers a client resending its CSR. */
const DECIDED_ANSWER_HOURS = 24;

/**
 * Enrollment over EST and SCEP: one interface to the same issuance path the API uses. A
 * request becomes a managed certificate (marked `enrolled_via`) and an Issuance (or
 * Renewal) job made by JobFactory, so the profile's approval gate applies; the device's CSR
 * waits in `enrollment_requests` until the job's handler issues it (IssuanceService).
 * Without approval the job runs at once in this request; with approval the answer is
 * pending until an approver releases the job and the worker issues it.
 */
@Injectable()
export class EnrollmentService {
  private readonly logger = new Logger(EnrollmentService.name);
  private readonly outcomes: Counter<'protocol' | 'label' | 'outcome'>;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly factory: JobFactory,
    private readonly runner: JobRunner,
    private readonly audit: AuditRepository,
    metrics: MetricsService,
  ) {
    this.outcomes = new Counter({
      name: 'certctl_enrollments_total',
      help: 'EST and SCEP enrollment requests by protocol, label and outcome (issued, pending, failed, rejected)',
      labelNames: ['protocol', 'label', 'outcome'],
      registers: [metrics.registry],
    });
  }

  /** Counts a request refused before it reached issuance (credential, policy, malformed). */
  countRejected(target: Pick<EnrollmentTarget, 'protocol' | 'label'>): void {
    this.outcomes.inc({ protocol: target.protocol, label: target.label, outcome: 'rejected' });
  }

  /** Audits a refused request with its reason (append-only trail of every rejection). */
  async recordRejection(
    target: Pick<EnrollmentTarget, 'protocol' | 'label'>,
    actor: EnrollmentActor,
    reason: string,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    this.countRejected(target);
    await this.audit.transaction((m) =>
      this.audit.recordDomain(m, actor, 'enrollment_rejected', 'enrollment', target.label || 'default', {
        protocol: target.protocol,
        label: target.label,
        reason,
        ...details,
      }),
    );
  }

  /**
   * Enrolls (or re-enrolls) a CSR. A request seen before (same SCEP transactionID, or a
   * pending EST request for the same key) answers that request's state instead of a second
   * certificate. Policy violations throw 400 before anything is stored.
   */
  async enroll(input: EnrollInput): Promise<EnrollmentOutcome> {
    const { target, csr } = input;
    const spki = createHash('sha256').update(csr.spkiDer).digest('hex');
    const earlier = await this.earlierRequest(target, spki, input.transactionId, input.renew ? 'reenroll' : 'enroll');
    if (earlier) return this.count(target, await this.outcomeOf(earlier));

    const names = namesOf(csr);
    const profile = await this.profileRules(target);
    if (profile) validateCsrAgainstProfile({ ...csr, commonName: names.commonName, sans: names.sans }, profile);
    await this.assertIssuer(target);

    const created = await this.ds.transaction(async (m) => {
      let certificateId: string;
      if (input.renew) {
        certificateId = input.renew.certificateId;
        await this.prepareRenewal(m, input.renew, names);
      } else {
        certificateId = newId(IdPrefix.Certificate);
        const label = target.label || 'default';
        await m.query(
          `INSERT INTO managed_certificates (id, name, common_name, sans, issuer_id, profile_id, status, tags, enrolled_via)
           VALUES ($1, $2, $3, $4, $5, $6, 'Pending', $7, $8)`,
          [
            certificateId,
            `${target.protocol.toLowerCase()}-${label}-${names.commonName}`.slice(0, 200),
            names.commonName,
            names.sanStrings,
            target.issuerId,
            target.profileId ?? null,
            JSON.stringify({ enrollment_protocol: target.protocol, enrollment_label: label }),
            target.protocol,
          ],
        );
      }
      const job = await this.factory.create(m, {
        type: input.renew ? JobType.Renewal : JobType.Issuance,
        certificateId,
        requestedBy: input.actor,
      });
      if (!job.created) {
        // Only a renewal can meet an open job: the certificate's earlier request still running.
        const open = await this.requestRowByJob(m, job.id);
        if (open && open.spki_sha256 === spki) return { requestId: open.id, certificateId, job, reused: true };
        throw conflict(`certificate ${certificateId} already has an open issuance job ${job.id}; retry later`);
      }
      const requestId = newId(IdPrefix.EnrollmentRequest);
      await m.query(
        `INSERT INTO enrollment_requests
           (id, protocol, label, certificate_id, job_id, kind, csr_pem, spki_sha256, transaction_id, requested_by, source_ip)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [
          requestId,
          target.protocol,
          target.label,
          certificateId,
          job.id,
          input.renew ? 'reenroll' : 'enroll',
          derToPem(csr.der, 'CERTIFICATE REQUEST'),
          spki,
          input.transactionId ?? null,
          input.actor.actorId,
          input.sourceIp ?? null,
        ],
      );
      await this.audit.recordDomain(m, input.actor, 'enrollment_requested', 'certificate', certificateId, {
        protocol: target.protocol,
        label: target.label,
        request_id: requestId,
        job_id: job.id,
        kind: input.renew ? 'reenroll' : 'enroll',
        common_name: names.commonName,
        sans: names.sanStrings,
        issuer_id: target.issuerId,
        profile_id: target.profileId ?? null,
        transaction_id: input.transactionId ?? null,
        source_ip: input.sourceIp ?? null,
        approval_required: job.status === 'AwaitingApproval',
      });
      return { requestId, certificateId, job, reused: false };
    });

    if (!created.reused && created.job.status === 'Pending') await this.runNow(created.job.id, created.requestId);
    return this.count(target, await this.outcome(created.requestId));
  }

  /** The state of a request found by its SCEP transactionID, for GetCertInitial. */
  async byTransaction(
    target: Pick<EnrollmentTarget, 'protocol' | 'label'>,
    transactionId: string,
  ): Promise<EnrollmentOutcome | undefined> {
    const row = await this.requestRow(
      `r.protocol = $1 AND r.label = $2 AND r.transaction_id = $3`,
      [target.protocol, target.label, transactionId],
      this.ds.manager,
    );
    return row ? this.outcomeOf(row) : undefined;
  }

  /** The current state of a request. */
  async outcome(requestId: string): Promise<EnrollmentOutcome> {
    const row = await this.requestRow(`r.id = $1`, [requestId], this.ds.manager);
    if (!row) throw new Error(`enrollment request ${requestId} vanished`);
    return this.outcomeOf(row);
  }

  /** The managed certificate a presented certificate (by SHA-256 fingerprint of its DER) belongs to. */
  async presented(certDer: Uint8Array): Promise<PresentedCertificate | undefined> {
    const fingerprint = createHash('sha256').update(certDer).digest('hex');
    const row = rowsOf<{
      certificate_id: string;
      version_id: string;
      status: string;
      archived: boolean;
      revoked: boolean;
      not_after: Date;
      latest: boolean;
      common_name: string;
      sans: string[];
      enrolled_via: EnrollmentProtocol | null;
    }>(
      await this.ds.query(
        `SELECT v.certificate_id, v.id AS version_id, mc.status, mc.archived_at IS NOT NULL AS archived,
                EXISTS (SELECT 1 FROM certificate_revocations r
                         WHERE r.serial_number = v.serial_number AND r.issuer_id = v.issuer_id) AS revoked,
                v.not_after, mc.common_name, mc.sans, mc.enrolled_via,
                v.id = (SELECT l.id FROM certificate_versions l WHERE l.certificate_id = v.certificate_id
                         ORDER BY l.created_at DESC, l.id DESC LIMIT 1) AS latest
           FROM certificate_versions v JOIN managed_certificates mc ON mc.id = v.certificate_id
          WHERE v.fingerprint_sha256 = $1`,
        [fingerprint],
      ),
    )[0];
    if (!row) return undefined;
    return {
      certificateId: row.certificate_id,
      versionId: row.version_id,
      status: row.status,
      archived: row.archived,
      revoked: row.revoked || row.status === 'Revoked',
      notAfter: new Date(row.not_after),
      latest: row.latest,
      commonName: row.common_name,
      sans: row.sans,
      enrolledVia: row.enrolled_via,
    };
  }

  /** An issued certificate by issuer-assigned serial (hex), for SCEP GetCert. */
  async certificateBySerial(serialHex: string): Promise<IssuedEnrollment | undefined> {
    const row = rowsOf<{ pem_chain: string; serial_number: string; not_after: Date }>(
      await this.ds.query(
        `SELECT pem_chain, serial_number, not_after FROM certificate_versions
          WHERE lower(ltrim(serial_number, '0')) = $1 ORDER BY created_at DESC LIMIT 1`,
        [serialHex.toLowerCase().replace(/^0+/, '')],
      ),
    )[0];
    return row ? issuedOf(row.pem_chain, row.serial_number, row.not_after) : undefined;
  }

  private count(target: Pick<EnrollmentTarget, 'protocol' | 'label'>, o: EnrollmentOutcome): EnrollmentOutcome {
    this.outcomes.inc({ protocol: target.protocol, label: target.label, outcome: o.status });
    return o;
  }

  /** Runs the job in this request; a replica's worker may have claimed it first: wait for it then. */
  private async runNow(jobId: string, requestId: string): Promise<void> {
    const result = await this.runner.run(jobId);
    if (result !== 'not-claimed') return;
    const until = Date.now() + CLAIMED_ELSEWHERE_WAIT_MS;
    while (Date.now() < until) {
      const o = await this.outcome(requestId);
      if (o.status !== 'pending') return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async earlierRequest(
    target: EnrollmentTarget,
    spki: string,
    transactionId: string | undefined,
    kind: 'enroll' | 'reenroll',
  ): Promise<RequestRow | undefined> {
    if (transactionId) {
      const row = await this.requestRow(
        `r.protocol = $1 AND r.label = $2 AND r.transaction_id = $3`,
        [target.protocol, target.label, transactionId],
        this.ds.manager,
      );
      if (row && row.spki_sha256 !== spki) {
        throw invalid(`transactionID ${transactionId} was used before with a different public key`);
      }
      return row;
    }
    // EST (RFC 7030 4.2.3): a client told 202 resends the same CSR, while its request waits
    // for approval and after it was decided; it gets that request's answer, not a second
    // request (and a second approval). Requests that never waited are not matched: the
    // same key enrolling again later is a new enrollment.
    const row = await this.requestRow(
      `r.protocol = $1 AND r.label = $2 AND r.spki_sha256 = $3 AND r.kind = $4
       AND (r.status = 'pending' OR (r.updated_at > now() - interval '${DECIDED_ANSWER_HOURS} hours'
            AND EXISTS (SELECT 1 FROM approval_requests ar WHERE ar.job_id = r.job_id)))`,
      [target.protocol, target.label, spki, kind],
      this.ds.manager,
    );
    if (!row) return undefined;
    return row.gated || (await this.outcomeOf(row)).status === 'pending' ? row : undefined;
  }

  private async requestRowByJob(m: EntityManager, jobId: string): Promise<RequestRow | undefined> {
    return this.requestRow(`r.job_id = $1`, [jobId], m);
  }

  private async requestRow(where: string, params: unknown[], m: EntityManager): Promise<RequestRow | undefined> {
    return rowsOf<RequestRow>(
      await m.query(
        `SELECT r.id, r.certificate_id, r.job_id, r.spki_sha256, r.status, r.error,
                v.pem_chain, v.serial_number, v.not_after,
                j.status AS job_status, j.last_error, j.attempts, j.max_attempts,
                EXISTS (SELECT 1 FROM approval_requests ar WHERE ar.job_id = r.job_id) AS gated
           FROM enrollment_requests r
           JOIN jobs j ON j.id = r.job_id
           LEFT JOIN certificate_versions v ON v.id = r.version_id
          WHERE ${where}
          ORDER BY r.created_at DESC LIMIT 1`,
        params,
      ),
    )[0];
  }

  private async outcomeOf(row: RequestRow): Promise<EnrollmentOutcome> {
    const base = { requestId: row.id, certificateId: row.certificate_id };
    if (row.status === 'issued' && row.pem_chain && row.serial_number && row.not_after) {
      return { ...base, status: 'issued', issued: issuedOf(row.pem_chain, row.serial_number, row.not_after) };
    }
    if (row.status === 'failed') return { ...base, status: 'failed', reason: row.error ?? 'enrollment failed' };
    const exhausted = row.job_status === 'Failed' && row.attempts >= row.max_attempts;
    if (row.job_status === 'Cancelled' || exhausted) {
      const reason = row.last_error?.trim() || `job ${row.job_id} ${row.job_status.toLowerCase()}`;
      await this.ds.query(
        `UPDATE enrollment_requests SET status = 'failed', error = $2, updated_at = now() WHERE id = $1 AND status = 'pending'`,
        [row.id, reason],
      );
      return { ...base, status: 'failed', reason };
    }
    if (row.job_status === 'Completed') {
      // Completed without a version for this request: recorded by an earlier run (see JobRunner).
      return { ...base, status: 'failed', reason: `job ${row.job_id} completed without issuing this request` };
    }
    const retryAfterSeconds = row.job_status === 'AwaitingApproval' ? 60 : 10;
    return { ...base, status: 'pending', jobId: row.job_id, retryAfterSeconds };
  }

  private async prepareRenewal(
    m: EntityManager,
    renew: { certificateId: string; allowNameChange: boolean },
    names: CsrNames,
  ): Promise<void> {
    const cert = rowsOf<{ common_name: string; sans: string[]; status: string; archived_at: Date | null }>(
      await m.query(
        `SELECT common_name, sans, status, archived_at FROM managed_certificates WHERE id = $1 FOR UPDATE`,
        [renew.certificateId],
      ),
    )[0];
    if (!cert || cert.archived_at || cert.status === 'Revoked') {
      throw conflict(`certificate ${renew.certificateId} is no longer live: enroll a new one`);
    }
    const same =
      cert.common_name === names.commonName &&
      cert.sans.length === names.sanStrings.length &&
      [...cert.sans].sort().join('\n') === [...names.sanStrings].sort().join('\n');
    if (same) return;
    if (!renew.allowNameChange) {
      throw invalid(
        `re-enrollment must keep the subject and SANs of the certificate it renews (CN ${JSON.stringify(cert.common_name)}, ` +
          `SANs ${JSON.stringify(cert.sans)}); the request asks for CN ${JSON.stringify(names.commonName)}, SANs ${JSON.stringify(names.sanStrings)}`,
      );
    }
    await m.query(`UPDATE managed_certificates SET common_name = $2, sans = $3, updated_at = now() WHERE id = $1`, [
      renew.certificateId,
      names.commonName,
      names.sanStrings,
    ]);
  }

  private async profileRules(target: EnrollmentTarget): Promise<CertificateProfileRules | undefined> {
    if (!target.profileId) return undefined;
    const row = rowsOf<CertificateProfileRules>(
      await this.ds.query(
        `SELECT allowed_key_algorithms, max_ttl_seconds, allowed_ekus, san_rules, must_staple
           FROM certificate_profiles WHERE id = $1`,
        [target.profileId],
      ),
    )[0];
    if (!row) throw misconfigured(target, `profile ${target.profileId} does not exist`);
    return row;
  }

  private async assertIssuer(target: EnrollmentTarget): Promise<void> {
    const row = rowsOf<{ enabled: boolean }>(
      await this.ds.query(`SELECT enabled FROM issuers WHERE id = $1`, [target.issuerId]),
    )[0];
    if (!row) throw misconfigured(target, `issuer ${target.issuerId} does not exist`);
    if (!row.enabled) throw misconfigured(target, `issuer ${target.issuerId} is disabled`);
  }
}

function misconfigured(target: EnrollmentTarget, what: string): DomainError {
  return new DomainError(
    ErrorCode.Unavailable,
    `${target.protocol} ${target.label ? `label "${target.label}"` : 'default label'} cannot issue: ${what}`,
  );
}

interface CsrNames {
  commonName: string;
  sans: SubjectAltNames;
  /** As managed_certificates.sans keeps them: canonical names, the kind inferred from the form. */
  sanStrings: string[];
}

/** The names a device asks for: its CN (or first DNS SAN) and every SAN kind we issue. */
export function namesOf(csr: ParsedCsr): CsrNames {
  if (csr.unsupportedSans.length) {
    throw invalid(`csr: SAN forms certctl does not issue: ${csr.unsupportedSans.join(', ')}`);
  }
  const commonName = csr.commonName ?? csr.sans.dns[0] ?? csr.sans.email[0] ?? csr.sans.ip[0];
  if (!commonName) throw invalid('csr: the subject has no common name and the request no SAN to name it by');
  if (commonName.length > MAX_COMMON_NAME_LENGTH) {
    throw invalid(`csr: the common name is longer than ${MAX_COMMON_NAME_LENGTH} characters`);
  }
  const sanStrings = [...csr.sans.dns, ...csr.sans.ip, ...csr.sans.email, ...csr.sans.uri];
  return { commonName, sans: csr.sans, sanStrings };
}

function issuedOf(pemChain: string, serialNumber: string, notAfter: Date): IssuedEnrollment {
  const pems = pemChain.match(PEM_BLOCK) ?? [];
  const ders = pems.map((p) =>
    Buffer.from(p.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, ''), 'base64'),
  );
  if (ders.length === 0) throw new Error(`certificate ${serialNumber} has no PEM`);
  return {
    serialNumber,
    certDer: ders[0],
    chainDer: ders.slice(1),
    certificatePem: pems[0] + '\n',
    notAfter: new Date(notAfter),
  };
}
