import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { LoopName } from '@certctl/domain';
import { AppConfig } from '../config/config.schema';
import { LoopRegistry } from '../scheduler/loop-registry';
import { AgentHealthRepository } from './agent-health.repository';

/**
 * The agent health check (every CERTCTL_SCHEDULER_AGENT_HEALTH_CHECK_INTERVAL): agents
 * that missed their heartbeats for CERTCTL_AGENT_OFFLINE_AFTER are marked Offline; the
 * next heartbeat sets them Online again.
 */
@Injectable()
export class AgentHealthService implements OnModuleInit {
  private readonly logger = new Logger(AgentHealthService.name);

  constructor(
    private readonly loops: LoopRegistry,
    private readonly repo: AgentHealthRepository,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    const every = this.config.scheduler.agentHealthIntervalMs;
    this.loops.register({
      name: LoopName.AgentHealth,
      everyMs: every,
      maxRunMs: Math.max(every * 2, 60_000),
      run: async () => {
        await this.run();
      },
    });
  }

  /** One tick; returns the agents marked Offline. */
  async run(): Promise<string[]> {
    const changed = await this.repo.markStaleOffline(this.config.scheduler.agentOfflineAfterMs);
    if (changed.length > 0) {
      this.logger.warn(
        `agent health: ${changed.length} agent(s) marked Offline (no heartbeat for ` +
          `${this.config.scheduler.agentOfflineAfterMs / 1000} s): ${changed
            .slice(0, 20)
            .map((r) => r.id)
            .join(', ')}${changed.length > 20 ? ', ...' : ''}`,
      );
    }
    return changed.map((r) => r.id);
  }
}
