import { Injectable } from '@nestjs/common';
import { IdPrefix, newId, notFound, type ListResult } from '@certctl/domain';
import { issuerConfigSpec, prepareConfig, unsealConfig, validateIssuerConnection } from '@certctl/connectors';
import { AuditRepository } from '../audit/audit.repository';
import { rethrowConstraint } from '../database/pg-errors';
import type { Principal } from '../http/request-context';
import { SecretBox } from '../secrets/secret-box';
import { sealContext } from '../secrets/seal-contexts';
import {
  IssuerDto,
  type CreateIssuerDto,
  type IssuerListQueryDto,
  type IssuerTestResultDto,
  type UpdateIssuerDto,
} from './dto/issuer.dto';
import { IssuersRepository } from './issuers.repository';

@Injectable()
export class IssuersService {
  constructor(
    private readonly repo: IssuersRepository,
    private readonly audit: AuditRepository,
    private readonly box: SecretBox,
  ) {}

  list(q: IssuerListQueryDto): Promise<ListResult<Partial<IssuerDto>>> {
    return this.repo.list(q);
  }

  async get(id: string): Promise<IssuerDto> {
    const issuer = await this.repo.findById(id);
    if (!issuer) throw notFound('issuer', id);
    return IssuerDto.from(issuer);
  }

  /**
   * Validates the config against the type's schema and seals its secrets before the
   * transaction (key derivation is slow); nothing is stored when either step fails.
   */
  async create(actor: Principal, body: CreateIssuerDto): Promise<IssuerDto> {
    const id = body.id ?? newId(IdPrefix.Issuer);
    const sealed = await prepareConfig({
      spec: issuerConfigSpec(body.type),
      input: body.config ?? {},
      sealer: this.box,
      context: sealContext('issuers', id),
    });
    try {
      return await this.repo.transaction(async (m) => {
        const issuer = await this.repo.insert(m, {
          id,
          name: body.name,
          type: body.type,
          config: sealed.config,
          secretConfig: sealed.secretConfig,
          secretFields: sealed.secretFields,
          enabled: body.enabled ?? true,
        });
        await this.audit.recordDomain(m, actor, 'issuer_created', 'issuer', id, {
          name: issuer.name,
          type: issuer.type,
          enabled: issuer.enabled,
          config_fields: Object.keys(sealed.config).sort(),
          secret_fields: sealed.secretFields,
        });
        return IssuerDto.from(issuer);
      });
    } catch (e) {
      rethrowConstraint(e, `issuer ${JSON.stringify(id)} or name ${JSON.stringify(body.name)}`);
    }
  }

  /**
   * A new type or config re-validates the whole configuration; secrets follow the
   * keep ("[REDACTED]" or omitted) / replace / clear (null) rules of prepareConfig.
   */
  async update(actor: Principal, id: string, body: UpdateIssuerDto): Promise<IssuerDto> {
    try {
      return await this.repo.transaction(async (m) => {
        const before = await this.repo.findForUpdate(m, id);
        if (!before) throw notFound('issuer', id);
        const type = body.type ?? before.type;
        const patch: Parameters<IssuersRepository['update']>[2] = {};
        const changed: string[] = [];
        if (body.name !== undefined && body.name !== before.name) changed.push('name');
        if (body.enabled !== undefined && body.enabled !== before.enabled) changed.push('enabled');
        if (type !== before.type) changed.push('type');
        if (body.config !== undefined || type !== before.type) {
          const sealed = await prepareConfig({
            spec: issuerConfigSpec(type),
            input: body.config,
            stored: before,
            sealer: this.box,
            context: sealContext('issuers', id),
          });
          Object.assign(patch, {
            config: sealed.config,
            secretConfig: sealed.secretConfig,
            secretFields: sealed.secretFields,
          });
          changed.push(...sealed.changedFields.map((f) => `config.${f}`));
        }
        if (body.name !== undefined) patch.name = body.name;
        if (body.enabled !== undefined) patch.enabled = body.enabled;
        patch.type = type;
        const issuer = await this.repo.update(m, id, patch);
        await this.audit.recordDomain(m, actor, 'issuer_updated', 'issuer', id, {
          name: issuer.name,
          type: issuer.type,
          changed,
        });
        return IssuerDto.from(issuer);
      });
    } catch (e) {
      rethrowConstraint(e, `issuer name ${JSON.stringify(body.name)}`);
    }
  }

  /** 409 while managed certificates still name the issuer. */
  async delete(actor: Principal, id: string): Promise<void> {
    try {
      await this.repo.transaction(async (m) => {
        const issuer = await this.repo.findForUpdate(m, id);
        if (!issuer) throw notFound('issuer', id);
        await this.repo.delete(m, id);
        await this.audit.recordDomain(m, actor, 'issuer_deleted', 'issuer', id, {
          name: issuer.name,
          type: issuer.type,
        });
      });
    } catch (e) {
      rethrowConstraint(e, `issuer ${JSON.stringify(id)}`);
    }
  }

  /** Runs the connector's configuration check on the stored (unsealed) configuration. */
  async test(id: string): Promise<IssuerTestResultDto> {
    const issuer = await this.repo.findWithSecrets(id);
    if (!issuer) throw notFound('issuer', id);
    const config = await unsealConfig(issuer, this.box, sealContext('issuers', id));
    const result = await validateIssuerConnection(issuer.type, config);
    const message = issuer.enabled ? result.message : `${result.message} (note: the issuer is disabled)`;
    return { ok: result.ok, message, checked_at: new Date().toISOString() };
  }
}
