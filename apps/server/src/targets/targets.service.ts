import { Injectable } from '@nestjs/common';
import { conflict, IdPrefix, invalid, newId, notFound, SENTINEL_AGENT_IDS, type ListResult } from '@certctl/domain';
import { checkConfig, prepareConfig, targetConfigSpec, unsealConfig } from '@certctl/connectors';
import type { EntityManager } from 'typeorm';
import { AuditRepository } from '../audit/audit.repository';
import { rethrowConstraint } from '../database/pg-errors';
import type { Principal } from '../http/request-context';
import { SecretBox } from '../secrets/secret-box';
import { sealContext } from '../secrets/seal-contexts';
import {
  TargetDto,
  type CreateTargetDto,
  type TargetListQueryDto,
  type TargetTestResultDto,
  type UpdateTargetDto,
} from './dto/target.dto';
import { AGENT_FRESH_SECONDS, TargetsRepository, type AgentLiveness } from './targets.repository';

const isSentinel = (id: string): boolean => (SENTINEL_AGENT_IDS as readonly string[]).includes(id);

@Injectable()
export class TargetsService {
  constructor(
    private readonly repo: TargetsRepository,
    private readonly audit: AuditRepository,
    private readonly box: SecretBox,
  ) {}

  list(q: TargetListQueryDto): Promise<ListResult<Partial<TargetDto>>> {
    return this.repo.list(q);
  }

  async get(id: string): Promise<TargetDto> {
    const target = await this.repo.findById(id);
    if (!target) throw notFound('target', id);
    return TargetDto.from(target);
  }

  /** 400 unless the agent exists, is live, and is a real agent (not a discovery sentinel). */
  private async requireDeployingAgent(m: EntityManager, agentId: string): Promise<void> {
    if (isSentinel(agentId)) {
      throw invalid(`body.agent_id: ${JSON.stringify(agentId)} is a discovery source, not a deployment agent`);
    }
    const agent = await this.repo.findAgent(agentId, m);
    if (!agent) throw invalid(`body.agent_id: agent ${JSON.stringify(agentId)} does not exist`);
    if (agent.retired_at) throw invalid(`body.agent_id: agent ${JSON.stringify(agentId)} is retired`);
  }

  async create(actor: Principal, body: CreateTargetDto): Promise<TargetDto> {
    const id = body.id ?? newId(IdPrefix.Target);
    const sealed = await prepareConfig({
      spec: targetConfigSpec(body.type),
      input: body.config ?? {},
      sealer: this.box,
      context: sealContext('deployment_targets', id),
    });
    try {
      return await this.repo.transaction(async (m) => {
        await this.requireDeployingAgent(m, body.agent_id);
        const target = await this.repo.insert(m, {
          id,
          name: body.name,
          type: body.type,
          agentId: body.agent_id,
          config: sealed.config,
          secretConfig: sealed.secretConfig,
          secretFields: sealed.secretFields,
          enabled: body.enabled ?? true,
        });
        await this.audit.recordDomain(m, actor, 'target_created', 'target', id, {
          name: target.name,
          type: target.type,
          agent_id: target.agentId,
          enabled: target.enabled,
          config_fields: Object.keys(sealed.config).sort(),
          secret_fields: sealed.secretFields,
        });
        return TargetDto.from(target);
      });
    } catch (e) {
      rethrowConstraint(e, `target ${JSON.stringify(id)} or name ${JSON.stringify(body.name)} on this agent`);
    }
  }

  async update(actor: Principal, id: string, body: UpdateTargetDto): Promise<TargetDto> {
    try {
      return await this.repo.transaction(async (m) => {
        const before = await this.repo.findForUpdate(m, id);
        if (!before) throw notFound('target', id);
        if (before.retiredAt) throw conflict(`target ${JSON.stringify(id)} is retired`);
        const type = body.type ?? before.type;
        const patch: Parameters<TargetsRepository['update']>[2] = { type };
        const changed: string[] = [];
        if (body.name !== undefined) {
          patch.name = body.name;
          if (body.name !== before.name) changed.push('name');
        }
        if (body.enabled !== undefined) {
          patch.enabled = body.enabled;
          if (body.enabled !== before.enabled) changed.push('enabled');
        }
        if (body.agent_id !== undefined && body.agent_id !== before.agentId) {
          await this.requireDeployingAgent(m, body.agent_id);
          patch.agentId = body.agent_id;
          changed.push('agent_id');
        }
        if (type !== before.type) changed.push('type');
        if (body.config !== undefined || type !== before.type) {
          const sealed = await prepareConfig({
            spec: targetConfigSpec(type),
            input: body.config,
            stored: before,
            sealer: this.box,
            context: sealContext('deployment_targets', id),
          });
          Object.assign(patch, {
            config: sealed.config,
            secretConfig: sealed.secretConfig,
            secretFields: sealed.secretFields,
          });
          changed.push(...sealed.changedFields.map((f) => `config.${f}`));
        }
        const target = await this.repo.update(m, id, patch);
        await this.audit.recordDomain(m, actor, 'target_updated', 'target', id, {
          name: target.name,
          type: target.type,
          agent_id: target.agentId,
          changed,
        });
        return TargetDto.from(target);
      });
    } catch (e) {
      rethrowConstraint(e, `target name ${JSON.stringify(body.name)} on this agent`);
    }
  }

  /**
   * Soft-retires the target (the row stays for history; jobs and mappings keep their
   * reference). 409 while certificates are mapped to it; a retired target answers 204.
   */
  async retire(actor: Principal, id: string, reason: string | undefined): Promise<void> {
    await this.repo.transaction(async (m) => {
      const target = await this.repo.findForUpdate(m, id);
      if (!target) throw notFound('target', id);
      if (target.retiredAt) return;
      const mapped = await this.repo.countMappings(m, id);
      if (mapped > 0) {
        throw conflict(
          `target ${JSON.stringify(id)} is still referenced by certificate_target_mappings (${mapped} certificate(s)); remove the mappings first`,
          { referenced_by: 'certificate_target_mappings', certificates: mapped },
        );
      }
      await this.repo.retire(m, id, reason ?? null);
      await this.audit.recordDomain(m, actor, 'target_retired', 'target', id, {
        name: target.name,
        type: target.type,
        agent_id: target.agentId,
        reason: reason ?? null,
      });
    });
  }

  /**
   * Validates the stored configuration against the type's schema and reports whether
   * the deploying agent is online. The server never connects to the target itself.
   */
  async test(id: string): Promise<TargetTestResultDto> {
    const target = await this.repo.findWithSecrets(id);
    if (!target) throw notFound('target', id);
    const checked_at = new Date().toISOString();
    if (target.retiredAt) {
      return { ok: false, message: `the target was retired on ${target.retiredAt.toISOString()}`, checked_at };
    }
    const config = await unsealConfig(target, this.box, sealContext('deployment_targets', id));
    const check = checkConfig(targetConfigSpec(target.type), config, 'config');
    const configPart = check.ok ? 'configuration is valid' : `invalid configuration: ${check.issues.join('; ')}`;
    const agent = target.agentId ? await this.repo.findAgent(target.agentId) : null;
    const agentPart = describeAgent(target.agentId, agent);
    const notes = target.enabled ? '' : ' (note: the target is disabled)';
    return { ok: check.ok && agentPart.online, message: `${configPart}; ${agentPart.message}${notes}`, checked_at };
  }
}

function describeAgent(agentId: string | null, agent: AgentLiveness | null): { online: boolean; message: string } {
  if (!agentId) return { online: false, message: 'no agent is assigned to deploy to this target' };
  const who = `agent ${JSON.stringify(agentId)}`;
  if (!agent) return { online: false, message: `${who} does not exist` };
  if (agent.retired_at) return { online: false, message: `${who} is retired; assign another agent` };
  const beat = agent.last_heartbeat_at
    ? `last heartbeat ${agent.last_heartbeat_at.toISOString()}`
    : 'never sent a heartbeat';
  if (agent.status === 'Online' && agent.fresh) return { online: true, message: `${who} is online (${beat})` };
  if (agent.status === 'Online') {
    return {
      online: false,
      message: `${who} has not sent a heartbeat in the last ${AGENT_FRESH_SECONDS} s (${beat}); deployments wait until it checks in`,
    };
  }
  return { online: false, message: `${who} is ${agent.status} (${beat}); deployments wait until it checks in` };
}
