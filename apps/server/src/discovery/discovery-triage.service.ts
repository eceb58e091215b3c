import { Injectable } from '@nestjs/common';
import { conflict, DomainError, ErrorCode, invalid, notFound } from '@certctl/domain';
import type { EntityManager } from 'typeorm';
import { AuditRepository } from '../audit/audit.repository';
import { CertificatesService } from '../certificates/certificates.service';
import { checkCommonName, checkSan, normalizeSans } from '../certificates/names';
import type { Principal } from '../http/request-context';
import { checkDiscoveryId } from './discovery-ids';
import { DiscoveryRepository, type TriageRow } from './discovery.repository';
import { DiscoveryStatus } from './discovery.entity';
import type {
  ClaimCreateDto,
  ClaimDiscoveredCertificateDto,
  DiscoveredCertificateDto,
  DismissDiscoveredCertificateDto,
} from './dto/discovery.dto';

/** `DNS:api.example.com`, `IP Address:10.0.0.5` (openssl's text form) -> the bare name. */
const SAN_TYPE_PREFIX = /^(?:dns|ip|ip address|email|uri):\s*/i;

/**
 * The names a managed certificate created from a discovered one gets: its SANs as found,
 * and its CN, or (a CN that is not a host name, e.g. a descriptive one) the first DNS/IP SAN.
 * A string names the reason none can be derived.
 */
export function managedNames(row: Pick<TriageRow, 'common_name' | 'sans'>): { cn: string; sans: string[] } | string {
  const sans = normalizeSans(row.sans.map((s) => s.replace(SAN_TYPE_PREFIX, '')));
  if (!sans.ok) return `its SANs cannot be managed: ${sans.error}`;
  const cn = checkCommonName(row.common_name);
  if (cn.ok) return { cn: cn.value, sans: sans.value };
  for (const san of sans.value) {
    const typed = checkSan(san);
    if (typed.ok && (typed.value.type === 'dns' || typed.value.type === 'ip') && checkCommonName(san).ok) {
      return { cn: san, sans: sans.value };
    }
  }
  return `its common name ${JSON.stringify(row.common_name)} ${cn.error}, and no SAN is a DNS name or IP address`;
}

/** A Managed one stays managed; a Dismissed one may still be claimed (a dismissal taken back). */
const CLAIMABLE: readonly DiscoveryStatus[] = [DiscoveryStatus.Unmanaged, DiscoveryStatus.Dismissed];

/**
 * Operator triage of discovered certificates: claim (link an existing managed certificate,
 * or create one from the discovered names) -> Managed; dismiss -> Dismissed. Each decision
 * is one transaction on the locked row with its audit event, so of two concurrent
 * decisions the second sees the first and gets a 409.
 */
@Injectable()
export class DiscoveryTriageService {
  constructor(
    private readonly repo: DiscoveryRepository,
    private readonly certificates: CertificatesService,
    private readonly audit: AuditRepository,
  ) {}

  async claim(actor: Principal, id: string, body: ClaimDiscoveredCertificateDto): Promise<DiscoveredCertificateDto> {
    checkDiscoveryId(id);
    // null counts as absent, as for every optional field.
    const managedId = body.managed_certificate_id ?? undefined;
    const create = body.create ?? undefined;
    if ((managedId === undefined) === (create === undefined)) {
      throw invalid('body: give exactly one of managed_certificate_id (link) or create (new managed certificate)', {
        fields: ['managed_certificate_id', 'create'],
      });
    }
    return this.repo.transaction(async (m) => {
      const row = await this.lockClaimable(m, id);
      const linked =
        managedId !== undefined
          ? await this.link(m, row, managedId)
          : await this.createManaged(actor, row, create as ClaimCreateDto);
      await this.repo.setStatus(m, id, DiscoveryStatus.Managed, linked.id);
      await this.audit.recordDomain(m, actor, 'discovery_cert_claimed', 'discovered_certificate', id, {
        mode: managedId !== undefined ? 'link' : 'create',
        from: row.status,
        managed_certificate_id: linked.id,
        fingerprint_matches_version: linked.fingerprintMatches,
        agent_id: row.agent_id,
        source_path: row.source_path,
        fingerprint_sha256: row.fingerprint_sha256,
      });
      return this.reload(m, id);
    });
  }

  async dismiss(
    actor: Principal,
    id: string,
    body: DismissDiscoveredCertificateDto,
  ): Promise<DiscoveredCertificateDto> {
    checkDiscoveryId(id);
    const reason = body.reason?.trim() || null;
    return this.repo.transaction(async (m) => {
      const row = await this.repo.lockForTriage(m, id);
      if (!row) throw notFound('discovered certificate', id);
      if (row.status !== DiscoveryStatus.Unmanaged) {
        throw conflict(
          `discovered certificate ${JSON.stringify(id)} is ${row.status}: only Unmanaged ones can be dismissed`,
        );
      }
      await this.repo.setStatus(m, id, DiscoveryStatus.Dismissed, null);
      await this.audit.recordDomain(m, actor, 'discovery_cert_dismissed', 'discovered_certificate', id, {
        agent_id: row.agent_id,
        source_path: row.source_path,
        fingerprint_sha256: row.fingerprint_sha256,
        reason,
      });
      return this.reload(m, id);
    });
  }

  private async lockClaimable(m: EntityManager, id: string): Promise<TriageRow> {
    const row = await this.repo.lockForTriage(m, id);
    if (!row) throw notFound('discovered certificate', id);
    if (!CLAIMABLE.includes(row.status)) {
      throw conflict(
        `discovered certificate ${JSON.stringify(id)} is already Managed (by ${row.managed_certificate_id})`,
        { managed_certificate_id: row.managed_certificate_id },
      );
    }
    return row;
  }

  private async link(
    m: EntityManager,
    row: TriageRow,
    managedId: string,
  ): Promise<{ id: string; fingerprintMatches: boolean }> {
    const cert = await this.repo.managedCertificate(m, managedId, row.fingerprint_sha256);
    if (!cert) throw invalid(`body.managed_certificate_id: certificate ${JSON.stringify(managedId)} not found`);
    if (cert.archived_at) {
      throw invalid(`body.managed_certificate_id: certificate ${JSON.stringify(managedId)} is archived`);
    }
    return { id: cert.id, fingerprintMatches: cert.has_fingerprint };
  }

  /**
   * A new managed certificate through CertificatesService.create (its reference checks,
   * policy evaluation and audit). That commits in its own transaction while this one holds
   * the discovered row's lock, so no other decision can interleave; its 400s are reworded
   * to name this body's fields.
   */
  private async createManaged(
    actor: Principal,
    row: TriageRow,
    create: ClaimCreateDto,
  ): Promise<{ id: string; fingerprintMatches: boolean }> {
    const names = managedNames(row);
    if (typeof names === 'string') {
      throw conflict(
        `discovered certificate ${JSON.stringify(row.id)} cannot become a managed certificate: ${names}; ` +
          'create one yourself and claim with managed_certificate_id',
      );
    }
    try {
      const created = await this.certificates.create(actor, {
        name: create.name,
        common_name: names.cn,
        sans: names.sans,
        owner_id: create.owner_id,
        team_id: create.team_id,
        issuer_id: create.issuer_id,
        profile_id: create.profile_id,
      });
      return { id: created.id, fingerprintMatches: false };
    } catch (e) {
      if (e instanceof DomainError && e.code === ErrorCode.Validation) {
        const fields = e.details?.fields;
        throw invalid(e.message.replace(/\bbody\./g, 'body.create.'), {
          ...e.details,
          ...(Array.isArray(fields) ? { fields: fields.map((f) => `create.${String(f)}`) } : {}),
        });
      }
      throw e;
    }
  }

  private async reload(m: EntityManager, id: string): Promise<DiscoveredCertificateDto> {
    const dto = await this.repo.findOne(id, m);
    if (!dto) throw notFound('discovered certificate', id);
    return dto;
  }
}
