import { Injectable } from '@nestjs/common';
import {
  BuiltinRole,
  DomainError,
  ErrorCode,
  forbidden,
  gone,
  IdPrefix,
  invalid,
  newId,
  notFound,
  SENTINEL_AGENT_IDS,
  type ListResult,
} from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import { AGENT_BOOTSTRAP_ACTOR } from '../auth/agent-bootstrap';
import { displayPrefix, generateApiKey, hashApiKey } from '../auth/api-key';
import { AuthRepository } from '../auth/auth.repository';
import { rethrowConstraint } from '../database/pg-errors';
import type { Principal } from '../http/request-context';
import { AgentsRepository } from './agents.repository';
import {
  AgentDto,
  type AgentListQueryDto,
  type HeartbeatDto,
  type RegisterAgentDto,
  type RegisteredAgentDto,
  type RetireAgentQueryDto,
  type RetireAgentResponseDto,
} from './dto/agent.dto';

const isSentinel = (id: string): boolean => (SENTINEL_AGENT_IDS as readonly string[]).includes(id);

@Injectable()
export class AgentsService {
  constructor(
    private readonly repo: AgentsRepository,
    private readonly auth: AuthRepository,
    private readonly audit: AuditRepository,
  ) {}

  list(q: AgentListQueryDto): Promise<ListResult<Partial<AgentDto>>> {
    return this.repo.list(q);
  }

  listRetired(q: AgentListQueryDto): Promise<ListResult<Partial<AgentDto>>> {
    return this.repo.list(q, true);
  }

  /** Retired agents too (their row is kept for the record). */
  async get(id: string): Promise<AgentDto> {
    const agent = await this.repo.findById(id);
    if (!agent) throw notFound('agent', id);
    return AgentDto.from(agent);
  }

  /**
   * Registers an agent with its own API key (actor = the agent, role `agent`), both in one
   * transaction. The key is returned here once and never again. The caller is an API key
   * with agent.edit or the agent itself with CERTCTL_AGENT_BOOTSTRAP_TOKEN; either way an
   * active agent's name is never registered twice (409).
   */
  async register(actor: Principal, body: RegisterAgentDto, sourceIp?: string): Promise<RegisteredAgentDto> {
    const via = actor.actorId === AGENT_BOOTSTRAP_ACTOR ? 'agent_bootstrap_token' : 'api_key';
    if (body.id !== undefined && isSentinel(body.id)) {
      throw invalid(`body.id: ${JSON.stringify(body.id)} is reserved for a built-in discovery source`);
    }
    const id = body.id ?? newId(IdPrefix.Agent);
    const key = generateApiKey();
    const keyId = newId(IdPrefix.ApiKey);
    try {
      return await this.repo.transaction(async (m) => {
        await this.auth.insertKeyWithRoles(
          m,
          {
            id: keyId,
            name: `agent:${body.name}`.slice(0, 200),
            actorId: id,
            actorType: 'Agent',
            keyHash: hashApiKey(key),
            keyPrefix: displayPrefix(key),
            createdBy: actor.actorId,
            expiresAt: null,
          },
          [`role-${BuiltinRole.Agent}`],
          actor.actorId,
        );
        const agent = await this.repo.insert(m, {
          id,
          name: body.name,
          hostname: body.hostname ?? '',
          apiKeyId: keyId,
        });
        await this.audit.recordDomain(m, actor, 'agent_registered', 'agent', id, {
          name: agent.name,
          hostname: agent.hostname,
          api_key_id: keyId,
          via,
          source_ip: sourceIp ?? null,
        });
        return { ...AgentDto.from(agent), api_key: key };
      });
    } catch (e) {
      rethrowConstraint(e, `agent ${JSON.stringify(id)} or active agent name ${JSON.stringify(body.name)}`);
    }
  }

  /**
   * Heartbeat: an agent key may only beat for its own agent. Unknown -> 404; retired ->
   * 410 (the agent treats it as "stop"). No domain audit row: the API audit log has it.
   */
  async heartbeat(actor: Principal, id: string, body: HeartbeatDto): Promise<AgentDto> {
    if (actor.actorType === 'Agent' && actor.actorId !== id) {
      throw forbidden(`an agent may only send heartbeats for itself (${actor.actorId}), not for ${id}`);
    }
    const agent = await this.repo.heartbeat(id, body);
    if (agent) return AgentDto.from(agent);
    const existing = await this.repo.findById(id);
    if (!existing) throw notFound('agent', id);
    throw gone(`agent ${JSON.stringify(id)} was retired at ${existing.retiredAt?.toISOString() ?? 'an earlier time'}`);
  }

  /**
   * Soft retirement (preflight -> block -> escape hatch):
   * - sentinel ids -> 403, always; unknown -> 404; already retired -> null (204, no audit)
   * - dependants (live targets, live certificates, open jobs) without force -> 409 with counts
   * - otherwise retire the agent and revoke its keys; with force also retire its targets
   *   and cancel its open jobs, all in one transaction with one audit row.
   */
  async retire(actor: Principal, id: string, q: RetireAgentQueryDto): Promise<RetireAgentResponseDto | null> {
    // Sentinels first: no parameter could ever make their retirement succeed.
    if (isSentinel(id)) {
      throw forbidden(`agent ${JSON.stringify(id)} is a built-in discovery source and cannot be retired`);
    }
    const force = q.force === true;
    const reason = q.reason?.trim() || null;
    if (force && !reason) throw invalid('query.reason: required with force=true (say why the agent is retired)');
    return this.repo.transaction(async (m) => {
      const agent = await this.repo.findForUpdate(m, id);
      if (!agent) throw notFound('agent', id);
      if (agent.retiredAt) return null;

      const deps = await this.repo.countDependencies(m, id);
      const blocked = deps.active_targets + deps.active_certificates + deps.pending_jobs > 0;
      if (blocked && !force) {
        // certctl's dashboards read the three counts at the top level of this 409 body.
        throw new DomainError(
          ErrorCode.Conflict,
          `agent ${JSON.stringify(id)} has active dependencies (${deps.active_targets} targets, ` +
            `${deps.active_certificates} certificates, ${deps.pending_jobs} open jobs); ` +
            'retire with force=true&reason=... to retire its targets and cancel its jobs',
          { ...deps },
          { ...deps },
        );
      }

      let retiredTargets = 0;
      let cancelledJobs = 0;
      if (force) {
        retiredTargets = await this.repo.retireTargets(m, id, reason!);
        cancelledJobs = await this.repo.cancelOpenJobs(m, id, reason!);
      }
      const retired = await this.repo.retire(m, id, reason);
      const revokedKeys = await this.repo.revokeAgentKeys(m, id, agent.apiKeyId);
      if (force) {
        await this.audit.recordDomain(m, actor, 'agent_retirement_cascaded', 'agent', id, {
          name: agent.name,
          reason,
          retired_targets: retiredTargets,
          cancelled_jobs: cancelledJobs,
          active_certificates: deps.active_certificates,
          revoked_api_keys: revokedKeys,
        });
      } else {
        await this.audit.recordDomain(m, actor, 'agent_retired', 'agent', id, {
          name: agent.name,
          reason,
          revoked_api_keys: revokedKeys,
        });
      }
      return {
        agent: AgentDto.from(retired),
        cascade: force,
        retired_targets: retiredTargets,
        cancelled_jobs: cancelledJobs,
      };
    });
  }
}
