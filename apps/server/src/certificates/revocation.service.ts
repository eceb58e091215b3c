import { Injectable } from '@nestjs/common';
import { conflict, IdPrefix, invalid, newId, notFound, RevocationReason } from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import type { Principal } from '../http/request-context';
import { CertificatesRepository } from './certificates.repository';
import type { CertificateDto } from './dto/certificate.dto';
import type { BulkRevokeDto, BulkRevokeResultDto, RevokeCertificateDto } from './dto/revoke.dto';

const BULK_REVOKE_LIMIT = 10_000;
import { RevocationRepository } from './revocation.repository';

/**
 * Revoking a certificate: its latest issued serial is recorded in certificate_revocations
 * (the CRL/OCSP source) and the certificate becomes Revoked, with its audit row, in one
 * transaction. Revoking again is a no-op answered with the same certificate.
 */
@Injectable()
export class RevocationService {
  constructor(
    private readonly certs: CertificatesRepository,
    private readonly revocations: RevocationRepository,
    private readonly audit: AuditRepository,
  ) {}

  /**
   * Revokes every live certificate matching the filters, each in its own transaction so
   * one failure (say, a certificate never issued) does not stop the rest; one summary
   * audit row records the filters, the actor and the counts.
   */
  async bulkRevoke(actor: Principal, body: BulkRevokeDto): Promise<BulkRevokeResultDto> {
    const { reason, invalidity_date, ...filters } = body;
    if (!Object.values(filters).some((v) => v !== undefined)) {
      throw invalid('body: give at least one of profile_id, owner_id, agent_id, issuer_id, certificate_ids');
    }
    const ids = await this.certs.transaction((m) => this.revocations.matchBulk(m, filters, BULK_REVOKE_LIMIT + 1));
    if (ids.length > BULK_REVOKE_LIMIT) {
      throw invalid(`body: the filters match more than ${BULK_REVOKE_LIMIT} certificates; narrow them`);
    }
    const errors: { certificate_id: string; message: string }[] = [];
    for (const id of ids) {
      try {
        await this.revoke(actor, id, { reason, invalidity_date });
      } catch (e) {
        errors.push({ certificate_id: id, message: e instanceof Error ? e.message : String(e) });
      }
    }
    const result = {
      total_requested: ids.length,
      succeeded: ids.length - errors.length,
      failed: errors.length,
      errors,
    };
    await this.certs.transaction((m) =>
      this.audit.recordDomain(m, actor, 'bulk_revocation_initiated', 'certificate', '', {
        filters,
        reason: reason ?? 'unspecified',
        total_requested: result.total_requested,
        succeeded: result.succeeded,
        failed: result.failed,
      }),
    );
    return result;
  }

  async revoke(actor: Principal, id: string, body: RevokeCertificateDto): Promise<CertificateDto> {
    const reason = body.reason ?? 'unspecified';
    const invalidityDate = body.invalidity_date ? new Date(body.invalidity_date) : null;
    if (invalidityDate && invalidityDate.getTime() > Date.now() + 60_000) {
      throw invalid('body.invalidity_date: must not be in the future');
    }
    return this.certs.transaction(async (m) => {
      const cert = await this.certs.lockForUpdate(m, id);
      if (!cert) throw notFound('certificate', id);
      if (cert.archived_at) throw conflict(`certificate ${id} is archived`);
      const version = await this.revocations.latestVersion(m, id);
      if (!version) throw conflict(`certificate ${id} has no issued version to revoke`);
      if (cert.status !== 'Revoked') {
        const recorded = await this.revocations.record(m, {
          id: newId(IdPrefix.Revocation),
          certificateId: id,
          versionId: version.id,
          issuerId: cert.issuer_id,
          serial: version.serial_number.toLowerCase(),
          reason,
          reasonCode: RevocationReason[reason],
          invalidityDate,
          revokedBy: actor.actorId,
        });
        await this.revocations.markRevoked(m, id);
        await this.audit.recordDomain(m, actor, 'certificate_revoked', 'certificate', id, {
          serial_number: version.serial_number,
          reason,
          issuer_id: cert.issuer_id,
          already_recorded: !recorded,
        });
      }
      const dto = await this.certs.findDto(id, m);
      if (!dto) throw notFound('certificate', id);
      return dto;
    });
  }
}
