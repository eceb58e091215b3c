import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import {
  IdPrefix,
  invalid,
  newId,
  normalizePolicyRuleConfig,
  notFound,
  Severity,
  type ListResult,
  type PolicyRuleType,
} from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import { rethrowConstraint } from '../database/pg-errors';
import type { Principal } from '../http/request-context';
import {
  PolicyRuleDto,
  type CreatePolicyRuleDto,
  type PolicyRuleListQueryDto,
  type PolicyViolationDto,
  type PolicyViolationListQueryDto,
  type UpdatePolicyRuleDto,
} from './dto/policy.dto';
import { PoliciesRepository, type PolicyRuleWrite } from './policies.repository';
import { PolicyEvaluationService } from './policy-evaluation.service';

@Injectable()
export class PoliciesService {
  constructor(
    private readonly repo: PoliciesRepository,
    private readonly audit: AuditRepository,
    private readonly evaluation: PolicyEvaluationService,
  ) {}

  list(q: PolicyRuleListQueryDto): Promise<ListResult<Partial<PolicyRuleDto>>> {
    return this.repo.list(q);
  }

  async get(id: string): Promise<PolicyRuleDto> {
    const rule = await this.repo.findById(id);
    if (!rule) throw notFound('policy rule', id);
    return PolicyRuleDto.from(rule);
  }

  async listViolations(id: string, q: PolicyViolationListQueryDto): Promise<ListResult<Partial<PolicyViolationDto>>> {
    if (!(await this.repo.findById(id))) throw notFound('policy rule', id);
    return this.repo.listViolations(id, q);
  }

  /** Creates the rule; an enabled rule is then evaluated against every live certificate in the background. */
  async create(actor: Principal, body: CreatePolicyRuleDto): Promise<PolicyRuleDto> {
    const id = body.id ?? newId(IdPrefix.PolicyRule);
    const config = normalizeConfig(body.type, body.config ?? {});
    let created: PolicyRuleDto;
    try {
      created = await this.repo.transaction(async (m) => {
        await this.checkReferences(m, body.type, config);
        const rule = await this.repo.insert(m, {
          id,
          name: body.name.trim(),
          type: body.type,
          config,
          severity: body.severity ?? Severity.Warning,
          enabled: body.enabled ?? true,
        });
        await this.audit.recordDomain(m, actor, 'policy_rule_created', 'policy', id, {
          name: rule.name,
          type: rule.type,
          severity: rule.severity,
          enabled: rule.enabled,
        });
        return PolicyRuleDto.from(rule);
      });
    } catch (e) {
      rethrowConstraint(e, `policy rule ${JSON.stringify(id)} or name ${JSON.stringify(body.name)}`);
    }
    if (created.enabled) this.evaluation.schedule(id);
    return created;
  }

  /**
   * Partial update. Disabling clears the rule's violations and a severity change restamps
   * them, both in this transaction; a new type or config, or enabling, re-evaluates every
   * live certificate in the background.
   */
  async update(actor: Principal, id: string, body: UpdatePolicyRuleDto): Promise<PolicyRuleDto> {
    let reevaluate = false;
    let updated: PolicyRuleDto;
    try {
      updated = await this.repo.transaction(async (m) => {
        const before = await this.repo.findForUpdate(m, id);
        if (!before) throw notFound('policy rule', id);
        const patch: Partial<PolicyRuleWrite> = {
          ...(body.name !== undefined && { name: body.name.trim() }),
          ...(body.severity !== undefined && { severity: body.severity }),
          ...(body.enabled !== undefined && { enabled: body.enabled }),
        };
        if (body.type !== undefined || body.config !== undefined) {
          const type = body.type ?? before.type;
          // A new type without a new config must still accept the stored one.
          const config = normalizeConfig(type, body.config ?? before.config);
          await this.checkReferences(m, type, config);
          patch.type = type;
          patch.config = config;
        }
        const rule = await this.repo.update(m, id, patch);
        const definitionChanged =
          JSON.stringify([rule.type, rule.config]) !== JSON.stringify([before.type, before.config]);
        if (!rule.enabled) {
          if (before.enabled) await this.repo.deleteRuleViolations(m, id);
        } else {
          if (rule.severity !== before.severity) await this.repo.setRuleSeverity(m, id, rule.severity);
          reevaluate = definitionChanged || !before.enabled;
        }
        const after = PolicyRuleDto.from(rule);
        await this.audit.recordDomain(m, actor, 'policy_rule_updated', 'policy', id, {
          changed: changedFields(PolicyRuleDto.from(before), after),
          ...(before.enabled !== rule.enabled && { enabled: rule.enabled }),
          ...(before.severity !== rule.severity && { severity: rule.severity }),
        });
        return after;
      });
    } catch (e) {
      rethrowConstraint(e, `policy rule name ${JSON.stringify(body.name)}`);
    }
    if (reevaluate) this.evaluation.schedule(id);
    return updated;
  }

  /** Deletes the rule and, by cascade, its violations. */
  async delete(actor: Principal, id: string): Promise<void> {
    try {
      await this.repo.transaction(async (m) => {
        const rule = await this.repo.findForUpdate(m, id);
        if (!rule) throw notFound('policy rule', id);
        await this.repo.delete(m, id);
        await this.audit.recordDomain(m, actor, 'policy_rule_deleted', 'policy', id, {
          name: rule.name,
          type: rule.type,
        });
      });
    } catch (e) {
      rethrowConstraint(e, `policy rule ${JSON.stringify(id)}`);
    }
  }

  /** AllowedIssuers must name existing issuers (a typo would flag every certificate). */
  private async checkReferences(
    m: EntityManager,
    type: PolicyRuleType,
    config: Record<string, unknown>,
  ): Promise<void> {
    if (type !== 'AllowedIssuers') return;
    const ids = config.issuer_ids as string[];
    const missing = await this.repo.missingIssuers(m, ids);
    if (missing.length) {
      throw invalid(
        missing
          .map((mid) => `body.config.issuer_ids.${ids.indexOf(mid)}: issuer ${JSON.stringify(mid)} does not exist`)
          .join('; '),
      );
    }
  }
}

/** The response fields whose value differs (both sides as read back from the database). */
function changedFields(before: PolicyRuleDto, after: PolicyRuleDto): string[] {
  return (Object.keys(after) as (keyof PolicyRuleDto)[]).filter(
    (k) => k !== 'updated_at' && JSON.stringify(before[k]) !== JSON.stringify(after[k]),
  );
}

function normalizeConfig(type: PolicyRuleType, raw: unknown): Record<string, unknown> {
  const { config, errors } = normalizePolicyRuleConfig(type, raw);
  if (errors.length) throw invalid(errors.map((e) => `body.${e}`).join('; '));
  return config;
}
