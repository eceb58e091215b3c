import { Injectable, Logger } from '@nestjs/common';
import { X509Certificate } from '@peculiar/x509';
import { conflict, DomainError, ErrorCode, invalid, IssuerType, notFound } from '@certctl/domain';
import { createIntermediateCa, derToPem, pemToDers, pkiUrls, readNameConstraints, type CreatedCa } from '@certctl/pki';
import { AuditRepository } from '../audit/audit.repository';
import { CaStore, issuingCaId, urlIdOf, type IssuerCaRow, type LoadedCa } from '../ca/ca-store';
import { AppConfig, pkiPublicBaseUrl } from '../config/config.schema';
import type { Principal } from '../http/request-context';
import type {
  CreateIntermediateDto,
  IntermediateCaDto,
  IntermediateCaListDto,
  NameConstraintsViewDto,
  RetireIntermediateDto,
  RetireIntermediateResultDto,
} from './dto/intermediate.dto';
import { IntermediatesRepository } from './intermediates.repository';

/** Fields of createIntermediateCa's validation messages, as the request body names them. */
const LIB_FIELDS: [RegExp, string][] = [
  [/^parent: /, 'body.parent_id: '],
  [/^(path_len_constraint|validity_days|subject|key_algorithm|name_constraints)/, 'body.$1'],
];

const pemOf = (der: Uint8Array): string => derToPem(der, 'CERTIFICATE');

/**
 * The CA hierarchy of Local CA issuers: intermediates signed by the top CA or by another
 * CA of the issuer, and their retirement (drain first). State lives in `issuer_cas`, so
 * every replica sees the same hierarchy; which CA issues is CaStore.issuing's rule.
 */
@Injectable()
export class IntermediatesService {
  private readonly logger = new Logger(IntermediatesService.name);

  constructor(
    private readonly cas: CaStore,
    private readonly repo: IntermediatesRepository,
    private readonly audit: AuditRepository,
    private readonly config: AppConfig,
  ) {}

  async create(actor: Principal, issuerId: string, body: CreateIntermediateDto): Promise<IntermediateCaDto> {
    const issuer = await this.cas.issuer(issuerId);
    if (issuer.type !== IssuerType.LocalCA) {
      throw conflict(`issuer ${issuerId} is ${issuer.type}: only Local CA issuers have a CA hierarchy here`);
    }
    const subject = subjectOf(body);
    const parent = await this.parentOf(issuer.id, body.parent_id, () => this.cas.top(issuer));

    let created: CreatedCa;
    try {
      created = await createIntermediateCa(parent.signer, {
        subject,
        keyAlgorithm: body.key_algorithm,
        validityDays: body.validity_days,
        pathLenConstraint: body.path_len_constraint,
        nameConstraints: body.name_constraints && {
          permittedDns: body.name_constraints.permitted_dns,
          excludedDns: body.name_constraints.excluded_dns,
        },
        // The new CA's own revocation status is published by its parent.
        parentRevocation: { publicUrl: pkiPublicBaseUrl(this.config), parentIssuerId: parent.urlId },
      });
    } catch (e) {
      throw asBodyError(e);
    }

    const row = await this.repo.transaction(async (m) => {
      // The parent must still be active when the child is stored (a retire locks it FOR UPDATE).
      const locked = await this.repo.lockState(m, parent.row.id, 'share');
      if (locked?.state !== 'active') {
        throw conflict(`body.parent_id: CA ${parent.row.id} is ${locked?.state ?? 'gone'} and signs no new CAs`);
      }
      const stored = await this.cas.insertGenerated(m, issuer.id, parent.row.id, created, body.name);
      await this.audit.recordDomain(m, actor, 'intermediate_created', 'intermediate', stored.id, {
        issuer_id: issuer.id,
        parent_id: parent.row.id,
        name: stored.name,
        subject: stored.subject,
        serial_number: stored.serial_number,
        fingerprint_sha256: stored.fingerprint_sha256,
        key_algorithm: stored.key_algorithm,
        path_len_constraint: stored.path_len_constraint,
        name_constraints: body.name_constraints ?? null,
        not_after: stored.not_after.toISOString(),
      });
      return stored;
    });
    this.logger.log(`issuer ${issuer.id}: created CA ${row.id} "${row.subject}" under ${parent.row.id}`);
    return this.get(row.id);
  }

  /** Every CA of the issuer, oldest first, the top one included. */
  async list(issuerId: string): Promise<IntermediateCaListDto> {
    const issuer = await this.cas.issuer(issuerId);
    const rows = await this.cas.list(issuer.id);
    const live = await this.repo.liveCertificatesByCa(issuer.id);
    const data = rows.map((r) => this.toDto(r, rows, live.get(r.id) ?? 0));
    return { data, total: data.length };
  }

  async get(caId: string): Promise<IntermediateCaDto> {
    const row = await this.cas.row(caId);
    if (!row) throw notFound('CA', caId);
    const rows = await this.cas.list(row.issuer_id);
    const live = await this.repo.liveCertificates(row.id);
    return this.toDto(row, rows, live);
  }

  /**
   * Drain first: the CA stops issuing at once (draining); it becomes retired, by this same
   * call made again, once none of its certificates is live. Idempotent. Refused for a CA
   * with unretired child CAs, and for the issuer's only top CA.
   */
  async retire(
    actor: Principal,
    caId: string,
    body: RetireIntermediateDto,
  ): Promise<{ result: RetireIntermediateResultDto; retired: boolean }> {
    const outcome = await this.repo.transaction(async (m) => {
      const ca = await this.repo.lockState(m, caId, 'update');
      if (!ca) throw notFound('CA', caId);
      if (ca.state === 'retired') return { state: ca.state, remaining: 0 };
      if (ca.parent_id === null && (await this.repo.otherUnretiredTops(m, ca.issuer_id, ca.id)) === 0) {
        throw conflict(`CA ${ca.id} is the top CA of issuer ${ca.issuer_id} and its only one; it cannot be retired`);
      }
      const children = await this.repo.unretiredChildren(m, ca.id);
      if (children.length > 0) {
        throw conflict(
          `CA ${ca.id} has child CAs that are not retired (${children.map((c) => `${c.id}: ${c.state}`).join(', ')}); retire them first`,
          { child_ca_ids: children.map((c) => c.id) },
        );
      }
      const remaining = await this.repo.liveCertificates(ca.id, m);
      const reason = body.reason ?? null;
      if (remaining > 0) {
        if (ca.state === 'active') {
          await this.repo.setState(m, ca.id, 'draining');
          await this.audit.recordDomain(m, actor, 'intermediate_draining', 'intermediate', ca.id, {
            issuer_id: ca.issuer_id,
            reason,
            certificates_remaining: remaining,
          });
        }
        return { state: 'draining' as const, remaining };
      }
      await this.repo.setState(m, ca.id, 'retired');
      await this.audit.recordDomain(m, actor, 'intermediate_retired', 'intermediate', ca.id, {
        issuer_id: ca.issuer_id,
        reason,
        previous_state: ca.state,
      });
      return { state: 'retired' as const, remaining: 0 };
    });
    const dto = await this.get(caId);
    return { result: { ...dto, certificates_remaining: outcome.remaining }, retired: outcome.state === 'retired' };
  }

  /** DER of the CA a URL id names (issuer id: its top CA; `ica-...`: that CA), for AIA caIssuers. */
  async certificateDer(urlId: string): Promise<{ der: Buffer; fingerprint: string }> {
    const row = await this.cas.byUrlId(urlId);
    if (!row) throw notFound('CA certificate', urlId);
    const [der] = pemToDers(row.cert_pem, ['CERTIFICATE'], 'cert_pem');
    return { der: Buffer.from(der), fingerprint: row.fingerprint_sha256 };
  }

  private async parentOf(
    issuerId: string,
    parentId: string | undefined,
    top: () => Promise<LoadedCa>,
  ): Promise<LoadedCa> {
    if (parentId === undefined) {
      const loaded = await top();
      if (loaded.row.state !== 'active') {
        throw conflict(
          `issuer ${issuerId}: its top CA ${loaded.row.id} is ${loaded.row.state}; name an active parent_id`,
        );
      }
      return loaded;
    }
    const row = await this.cas.row(parentId);
    if (row?.issuer_id !== issuerId) {
      throw invalid(`body.parent_id: CA "${parentId}" does not exist in issuer ${issuerId}`);
    }
    if (row.state !== 'active') throw invalid(`body.parent_id: CA "${parentId}" is ${row.state}`);
    return this.cas.load(row.id);
  }

  private toDto(row: IssuerCaRow, all: IssuerCaRow[], live: number): IntermediateCaDto {
    const top = all.find((r) => r.parent_id === null);
    const blocks = pemToDers(row.cert_pem, ['CERTIFICATE'], 'cert_pem');
    const certPem = pemOf(blocks[0]);
    // External (sub-CA files) rows store their chain after the certificate.
    const chain = row.source === 'external' ? blocks.slice(1).map(pemOf) : chainAbove(row, all).map((r) => r.cert_pem);
    return {
      id: row.id,
      issuer_id: row.issuer_id,
      parent_id: row.parent_id,
      name: row.name,
      top: row.parent_id === null,
      source: row.source,
      state: row.state,
      issuing: top !== undefined && issuingCaId(all, top.id) === row.id,
      subject: row.subject,
      serial_number: row.serial_number,
      fingerprint_sha256: row.fingerprint_sha256,
      key_algorithm: row.key_algorithm,
      path_len_constraint: row.path_len_constraint,
      name_constraints: nameConstraintsOf(blocks[0]),
      not_before: row.not_before.toISOString(),
      not_after: row.not_after.toISOString(),
      cert_pem: certPem,
      chain_pem: chain.join(''),
      ca_issuers_url: pkiUrls(pkiPublicBaseUrl(this.config), urlIdOf(row)).caIssuers,
      certificates_active: live,
      retired_at: row.retired_at ? row.retired_at.toISOString() : null,
      created_at: row.created_at.toISOString(),
    };
  }
}

function subjectOf(body: CreateIntermediateDto): string {
  if (body.subject !== undefined) {
    if (body.common_name !== undefined || body.organization !== undefined) {
      throw invalid('body.subject: give either subject or common_name (with organization), not both');
    }
    return body.subject;
  }
  const cn = body.common_name?.trim();
  if (!cn) throw invalid('body.common_name: required (or give subject)');
  const o = body.organization?.trim();
  return `CN=${escapeDn(cn)}${o ? `, O=${escapeDn(o)}` : ''}`;
}

/** RFC 4514 escaping of an attribute value. */
function escapeDn(v: string): string {
  return v
    .replace(/([,+"\\<>;=])/g, '\\$1')
    .replace(/^([ #])/, '\\$1')
    .replace(/ $/, '\\ ');
}

/** The rows above `row`, nearest first. */
function chainAbove(row: IssuerCaRow, all: IssuerCaRow[]): IssuerCaRow[] {
  const out: IssuerCaRow[] = [];
  const byId = new Map(all.map((r) => [r.id, r]));
  for (let p = row.parent_id; p !== null;) {
    const parent = byId.get(p);
    if (!parent || out.includes(parent)) break;
    out.push(parent);
    p = parent.parent_id;
  }
  return out;
}

function nameConstraintsOf(certDer: Uint8Array): NameConstraintsViewDto | null {
  const nc = readNameConstraints(new X509Certificate(certDer));
  if (!nc) return null;
  const dns = (l: typeof nc.permitted) => l.flatMap((s) => (s.kind === 'dns' ? [s.value] : []));
  return { permitted_dns: dns(nc.permitted), excluded_dns: dns(nc.excluded) };
}

/** createIntermediateCa names its fields bare (`path_len_constraint: ...`): point at the body. */
function asBodyError(e: unknown): unknown {
  if (!(e instanceof DomainError) || e.code !== ErrorCode.Validation) return e;
  for (const [pattern, replacement] of LIB_FIELDS) {
    if (pattern.test(e.message)) return new DomainError(e.code, e.message.replace(pattern, replacement), e.details);
  }
  return e;
}
