import { Injectable } from '@nestjs/common';
import { conflict, DomainError, ErrorCode, forbidden, notFound } from '@certctl/domain';
import { derToPem, pemToDers, toPkcs12 } from '@certctl/pki';
import { AuditRepository } from '../audit/audit.repository';
import type { Principal } from '../http/request-context';
import { SecretBox } from '../secrets/secret-box';
import { versionKeyContext } from '../secrets/seal-contexts';
import { CertificateActionsRepository, type VersionMaterial } from './certificate-actions.repository';
import { CertificatesRepository } from './certificates.repository';
import { checkPathId } from './certificates.service';
import type { PemExportDto } from './dto/certificate-actions.dto';
import { ExportRateLimiter } from './export-rate-limiter';

export interface Pkcs12File {
  filename: string;
  bytes: Uint8Array;
}

/** A file name for Content-Disposition: the certificate id is already [a-z0-9._-]. */
const fileName = (id: string, ext: string): string => `${id.replace(/[^A-Za-z0-9._-]/g, '_')}.${ext}`;

/**
 * Exports of the latest version of a certificate: the PEM chain to anyone who may read the
 * certificate, and a PKCS#12 with the private key only when the server generated (and
 * sealed) that key. Every export is audited with its format; passwords never are.
 */
@Injectable()
export class CertificateExportService {
  constructor(
    private readonly certs: CertificatesRepository,
    private readonly actions: CertificateActionsRepository,
    private readonly audit: AuditRepository,
    private readonly box: SecretBox,
    private readonly limiter: ExportRateLimiter,
  ) {}

  async pem(actor: Principal, id: string, delivery: 'json' | 'file'): Promise<PemExportDto> {
    const version = await this.latest(id);
    const [leaf, ...chain] = this.certificates(id, version);
    await this.audited(actor, id, version, { format: 'pem', delivery });
    return {
      certificate_id: id,
      version_id: version.id,
      serial_number: version.serial_number,
      certificate_pem: leaf,
      chain_pem: chain.join(''),
      full_chain_pem: [leaf, ...chain].join(''),
    };
  }

  pemFileName(id: string): string {
    return fileName(id, 'pem');
  }

  /**
   * The key, leaf and chain as PKCS#12 (AES-256-CBC + PBKDF2, SHA-256 MAC). Needs cert.read
   * on top of the route's permission; counted against the actor's hourly export budget.
   */
  async pkcs12(actor: Principal, id: string, password: string): Promise<Pkcs12File> {
    if (!actor.permissions.has('cert.read')) {
      throw forbidden('exporting a private key also needs the cert.read permission');
    }
    const version = await this.latest(id);
    if (!version.sealed_private_key) {
      throw conflict(
        `the server never held the private key of certificate ${JSON.stringify(id)} (version ${version.id}): ` +
          'in agent keygen mode the key stays on the agent; export the PEM chain instead',
      );
    }
    const [leaf, ...chain] = this.certificates(id, version);
    await this.limiter.consume(actor.actorId);
    let keyPem: unknown;
    try {
      keyPem = (await this.box.open(version.sealed_private_key, versionKeyContext(version.id))).private_key_pem;
    } catch (e) {
      throw new DomainError(
        ErrorCode.Unavailable,
        `the sealed private key of version ${version.id} cannot be opened: ${(e as Error).message}`,
      );
    }
    if (typeof keyPem !== 'string') {
      throw conflict(`the sealed private key of version ${version.id} holds no private_key_pem`);
    }
    const cert = await this.certs.findDto(id);
    const bytes = await toPkcs12({
      keyPem,
      certPem: leaf,
      chainPems: chain,
      password,
      friendlyName: (cert?.common_name || id).slice(0, 256),
    });
    await this.audited(actor, id, version, { format: 'pkcs12', includes_private_key: true });
    return { filename: fileName(id, 'p12'), bytes };
  }

  private async latest(id: string): Promise<VersionMaterial> {
    checkPathId(id);
    const version = await this.actions.latestVersion(id);
    if (version) return version;
    if (!(await this.certs.exists(id))) throw notFound('certificate', id);
    throw new DomainError(ErrorCode.NotFound, `certificate ${JSON.stringify(id)} has no issued version to export`);
  }

  /** The stored chain as canonical PEM blocks, leaf first. */
  private certificates(id: string, version: VersionMaterial): string[] {
    try {
      return pemToDers(version.pem_chain, ['CERTIFICATE'], 'pem_chain').map((der) => derToPem(der, 'CERTIFICATE'));
    } catch (e) {
      throw conflict(
        `the stored chain of certificate ${JSON.stringify(id)} (version ${version.id}) is not readable PEM: ${(e as Error).message}`,
      );
    }
  }

  private audited(actor: Principal, id: string, v: VersionMaterial, details: Record<string, unknown>): Promise<void> {
    return this.certs.transaction((m) =>
      this.audit.recordDomain(m, actor, 'certificate_exported', 'certificate', id, {
        ...details,
        version_id: v.id,
        serial_number: v.serial_number,
      }),
    );
  }
}
