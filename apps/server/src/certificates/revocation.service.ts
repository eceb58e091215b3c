import { Injectable, Logger } from '@nestjs/common';
import { conflict, IdPrefix, invalid, newId, notFound, RevocationReason } from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import { IssuerConnectors } from '../ca/issuer-connectors';
import type { Principal } from '../http/request-context';
import { CertificatesRepository } from './certificates.repository';
import type { CertificateDto } from './dto/certificate.dto';
import { selectForBulk } from './bulk-selection';
import {
  BULK_REVOKE_CRITERIA,
  type BulkRevokeDto,
  type BulkRevokeResultDto,
  type RevokeCertificateDto,
} from './dto/revoke.dto';

import { RevocationCaches } from '../pki-endpoints/revocation-caches';
import { RevocationRepository } from './revocation.repository';

const BULK_REVOKE_LIMIT = 10_000;

/**
 * Revoking a certificate: its latest issued serial is recorded in certificate_revocations
 * (the CRL/OCSP source) and the certificate becomes Revoked, with its audit row, in one
 * transaction. Revoking again is a no-op answered with the same certificate. When this
 * server's CA signed the version, the same transaction drops its pre-signed OCSP responses
 * and marks the CA's CRL stale; the CRL is regenerated after commit.
 */
@Injectable()
export class RevocationService {
  private readonly logger = new Logger(RevocationService.name);

  constructor(
    private readonly connectors: IssuerConnectors,
    private readonly certs: CertificatesRepository,
    private readonly revocations: RevocationRepository,
    private readonly audit: AuditRepository,
    private readonly caches: RevocationCaches,
  ) {}

  /**
   * Revokes every live certificate matching the filters, each in its own transaction so
   * one failure (say, a certificate never issued) does not stop the rest; one summary
   * audit row records the filters, the actor and the counts.
   */
  async bulkRevoke(actor: Principal, body: BulkRevokeDto): Promise<BulkRevokeResultDto> {
    const { reason, invalidity_date, ...filters } = body;
    const ids = await selectForBulk(this.certs, filters, { limit: BULK_REVOKE_LIMIT, accepted: BULK_REVOKE_CRITERIA });
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
    let signedBy: string | null = null;
    let notify: { revocationId: string; issuerId: string; caId: string | null; serial: string } | undefined;
    const revoked = await this.certs.transaction(async (m) => {
      const cert = await this.certs.lockForUpdate(m, id);
      if (!cert) throw notFound('certificate', id);
      if (cert.archived_at) throw conflict(`certificate ${id} is archived`);
      const version = await this.revocations.latestVersion(m, id);
      if (!version) throw conflict(`certificate ${id} has no issued version to revoke`);
      if (cert.status !== 'Revoked') {
        const revocationId = newId(IdPrefix.Revocation);
        const recorded = await this.revocations.record(m, {
          id: revocationId,
          certificateId: id,
          versionId: version.id,
          // The issuer that signed this version (the certificate may have moved to another since).
          issuerId: version.issuer_id ?? cert.issuer_id,
          serial: version.serial_number.toLowerCase(),
          reason,
          reasonCode: RevocationReason[reason],
          invalidityDate,
          revokedBy: actor.actorId,
        });
        await this.revocations.markRevoked(m, id);
        const issuerId = version.issuer_id ?? cert.issuer_id;
        if (recorded && issuerId) {
          notify = { revocationId, issuerId, caId: version.ca_id, serial: version.serial_number.toLowerCase() };
        }
        if (version.ca_id) {
          // Same transaction: no pre-signed OCSP "good" or fresh CRL survives the commit.
          await this.caches.invalidate(m, version.ca_id, version.serial_number.toLowerCase());
          signedBy = version.ca_id;
        }
        await this.audit.recordDomain(m, actor, 'certificate_revoked', 'certificate', id, {
          serial_number: version.serial_number,
          reason,
          issuer_id: cert.issuer_id,
          already_recorded: !recorded,
        });
        // The owner's notification, once per certificate and serial (the dedup key).
        await m.query(
          `INSERT INTO notification_events
                  (id, type, certificate_id, channel, recipient, message, severity, status, dedup_key)
           SELECT $1, 'Revocation', c.id, 'Email', COALESCE(o.email, ''), $3, 'warning', 'pending', $4
             FROM managed_certificates c LEFT JOIN owners o ON o.id = c.owner_id
            WHERE c.id = $2
           ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING`,
          [
            newId(IdPrefix.Notification),
            id,
            `Certificate ${cert.name} (${id}, CN ${cert.common_name}) was revoked: ${reason} (serial ${version.serial_number.toLowerCase()})`,
            `revoked:${id}:${version.serial_number.toLowerCase()}`,
          ],
        );
      }
      const dto = await this.certs.findDto(id, m);
      if (!dto) throw notFound('certificate', id);
      return dto;
    });
    // After commit, best effort: the CRL loop regenerates what this misses.
    if (signedBy) this.caches.afterCommit([signedBy]);
    if (notify) await this.notifyIssuer(notify, reason);
    return revoked;
  }

  /**
   * Tells the issuing CA, best effort after the commit (our record is what CRL and OCSP
   * serve; a CA that cannot be reached now does not undo the revocation). `issuer_notified`
   * records whether it was told.
   */
  private async notifyIssuer(
    n: { revocationId: string; issuerId: string; caId: string | null; serial: string },
    reason: string,
  ): Promise<void> {
    try {
      const { connector } = await this.connectors.forRevocation(n.issuerId, n.caId);
      await connector.revoke({ serialHex: n.serial, reason });
      await this.revocations.markIssuerNotified(n.revocationId);
      // The CA's own CRL now lists it: a script CA's CRL that certctl publishes is remade.
      await this.caches.afterIssuerRevoked(n.issuerId);
    } catch (e) {
      this.logger.warn(`revocation ${n.revocationId}: issuer ${n.issuerId} not notified: ${(e as Error).message}`);
    }
  }
}
