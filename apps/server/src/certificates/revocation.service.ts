import { Injectable } from '@nestjs/common';
import { conflict, IdPrefix, invalid, newId, notFound, RevocationReason } from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import type { Principal } from '../http/request-context';
import { CertificatesRepository } from './certificates.repository';
import type { CertificateDto } from './dto/certificate.dto';
import type { RevokeCertificateDto } from './dto/revoke.dto';
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
