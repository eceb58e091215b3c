import { Injectable } from '@nestjs/common';
import { IdPrefix, newId, notFound, type ListResult } from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import { rethrowConstraint } from '../database/pg-errors';
import type { Principal } from '../http/request-context';
import {
  DEFAULT_ALERT_THRESHOLDS_DAYS,
  DEFAULT_RENEWAL_DAYS_BEFORE,
  RenewalPolicyDto,
  type CreateRenewalPolicyDto,
  type RenewalPolicyListQueryDto,
  type UpdateRenewalPolicyDto,
} from './dto/renewal-policy.dto';
import { RenewalPoliciesRepository, type RenewalPolicyWrite } from './renewal-policies.repository';

/** Thresholds are kept in the order the scheduler walks them: furthest from expiry first. */
const descending = (days: readonly number[]): number[] => [...days].sort((a, b) => b - a);

/** The response fields whose value differs (both sides as read back from the database). */
function changedFields(before: RenewalPolicyDto, after: RenewalPolicyDto): string[] {
  return (Object.keys(after) as (keyof RenewalPolicyDto)[]).filter(
    (k) => k !== 'updated_at' && JSON.stringify(before[k]) !== JSON.stringify(after[k]),
  );
}

@Injectable()
export class RenewalPoliciesService {
  constructor(
    private readonly repo: RenewalPoliciesRepository,
    private readonly audit: AuditRepository,
  ) {}

  list(q: RenewalPolicyListQueryDto): Promise<ListResult<Partial<RenewalPolicyDto>>> {
    return this.repo.list(q);
  }

  async get(id: string): Promise<RenewalPolicyDto> {
    const policy = await this.repo.findById(id);
    if (!policy) throw notFound('renewal policy', id);
    return RenewalPolicyDto.from(policy);
  }

  /** 400 when agent_group_id names no agent group. */
  async create(actor: Principal, body: CreateRenewalPolicyDto): Promise<RenewalPolicyDto> {
    const id = body.id ?? newId(IdPrefix.RenewalPolicy);
    try {
      return await this.repo.transaction(async (m) => {
        const policy = await this.repo.insert(m, {
          id,
          name: body.name.trim(),
          renewalDaysBefore: body.renewal_days_before ?? DEFAULT_RENEWAL_DAYS_BEFORE,
          alertThresholdsDays: descending(body.alert_thresholds_days ?? DEFAULT_ALERT_THRESHOLDS_DAYS),
          autoRenew: body.auto_renew ?? true,
          agentGroupId: body.agent_group_id ?? null,
          notificationRouting: body.notification_routing ?? null,
        });
        const dto = RenewalPolicyDto.from(policy);
        await this.audit.recordDomain(m, actor, 'renewal_policy_created', 'renewal_policy', id, {
          name: dto.name,
          renewal_days_before: dto.renewal_days_before,
          alert_thresholds_days: dto.alert_thresholds_days,
          auto_renew: dto.auto_renew,
          agent_group_id: dto.agent_group_id,
          notification_routing: dto.notification_routing,
        });
        return dto;
      });
    } catch (e) {
      rethrowConstraint(e, `renewal policy ${JSON.stringify(id)} or name ${JSON.stringify(body.name)}`);
    }
  }

  async update(actor: Principal, id: string, body: UpdateRenewalPolicyDto): Promise<RenewalPolicyDto> {
    const patch: Partial<RenewalPolicyWrite> = {
      ...(body.name !== undefined && { name: body.name.trim() }),
      ...(body.renewal_days_before !== undefined && { renewalDaysBefore: body.renewal_days_before }),
      ...(body.alert_thresholds_days !== undefined && { alertThresholdsDays: descending(body.alert_thresholds_days) }),
      ...(body.auto_renew !== undefined && { autoRenew: body.auto_renew }),
      ...(body.agent_group_id !== undefined && { agentGroupId: body.agent_group_id }),
      ...(body.notification_routing !== undefined && { notificationRouting: body.notification_routing }),
    };
    try {
      return await this.repo.transaction(async (m) => {
        const before = await this.repo.findForUpdate(m, id);
        if (!before) throw notFound('renewal policy', id);
        const after = RenewalPolicyDto.from(await this.repo.update(m, id, patch));
        await this.audit.recordDomain(m, actor, 'renewal_policy_updated', 'renewal_policy', id, {
          changed: changedFields(RenewalPolicyDto.from(before), after),
        });
        return after;
      });
    } catch (e) {
      rethrowConstraint(e, `renewal policy name ${JSON.stringify(body.name)}`);
    }
  }

  /** 409 while managed certificates follow the policy. */
  async delete(actor: Principal, id: string): Promise<void> {
    try {
      await this.repo.transaction(async (m) => {
        const policy = await this.repo.findForUpdate(m, id);
        if (!policy) throw notFound('renewal policy', id);
        await this.repo.delete(m, id);
        await this.audit.recordDomain(m, actor, 'renewal_policy_deleted', 'renewal_policy', id, { name: policy.name });
      });
    } catch (e) {
      rethrowConstraint(e, `renewal policy ${JSON.stringify(id)}`);
    }
  }
}
