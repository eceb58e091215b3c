import { Inject, Injectable } from '@nestjs/common';
import { isApiError } from '@certctl/api-client';
import { ServerApi, type WorkItem } from '../api/server-api';
import type { AgentConfig } from '../config/agent-config';
import { runDiscovery } from '../discovery/discovery-worker';
import { systemInfo } from '../heartbeat/system-info';
import { establishIdentity } from '../identity/agent-identity';
import { KeyStore } from '../keys/key-store';
import { AgentLogger, errorText } from '../logging/agent-logger';
import { backoffDelay, sleep } from '../loops/backoff';
import { runLoop, StopAgent, type LoopOptions } from '../loops/periodic-loop';
import {
  AGENT_CONFIG,
  DISCOVERY_SCANNER,
  TARGET_CONNECTORS,
  type DiscoveryScanner,
  type TargetConnectorLookup,
} from '../tokens';
import { handleCsrJob } from '../work/csr-worker';
import { handleDeploymentJob } from '../work/deployment-worker';

/**
 * The agent's life: settle its identity, then run the heartbeat, work-poll and discovery
 * loops until a stop. A first stop request (SIGTERM/SIGINT) ends the loops between runs, so
 * an in-flight deployment finishes and is reported; a second one aborts it (the connector
 * rolls back). A 410 from the server (agent retired) ends the agent with exit code 0.
 */
@Injectable()
export class AgentRunner {
  private readonly stopping = new AbortController();
  private readonly hardStop = new AbortController();
  private exitCode = 0;

  constructor(
    @Inject(AGENT_CONFIG) private readonly config: AgentConfig,
    private readonly log: AgentLogger,
    @Inject(TARGET_CONNECTORS) private readonly connectors: TargetConnectorLookup,
    @Inject(DISCOVERY_SCANNER) private readonly scan: DiscoveryScanner,
  ) {}

  requestStop(reason: string): void {
    if (this.stopping.signal.aborted) {
      this.log.warn('second stop request: aborting the work in progress', { reason });
      this.hardStop.abort(new Error(reason));
      return;
    }
    this.log.info('stopping: finishing the work in progress', { reason });
    this.stopping.abort(new Error(reason));
  }

  /** Runs until stopped; resolves with the process exit code. */
  async run(): Promise<number> {
    const c = this.config;
    const api = new ServerApi(
      { serverUrl: c.serverUrl, caBundlePem: c.caBundlePem },
      c.bootstrapToken ?? c.apiKey ?? '',
    );
    const keys = new KeyStore(c.keyDir);
    try {
      await keys.init();
      const agentId = await this.withRetry('identity', () =>
        establishIdentity(c, api, (m, f) => this.log.info(m, f)).then((r) => r.agentId),
      );
      if (agentId === undefined) return this.stopped();
      this.log.info('agent started', {
        agent_id: agentId,
        server: c.serverUrl,
        key_dir: c.keyDir,
        discovery_dirs: c.discoveryDirs,
        heartbeat_interval_ms: c.heartbeatIntervalMs,
        poll_interval_ms: c.pollIntervalMs,
      });

      const loops = [
        this.loop({ name: 'heartbeat', intervalMs: c.heartbeatIntervalMs }, async () => {
          await api.heartbeat(systemInfo());
        }),
        this.loop({ name: 'work-poll', intervalMs: c.pollIntervalMs }, () => this.pollOnce(api, keys)),
      ];
      if (c.discoveryDirs.length) {
        loops.push(
          this.loop({ name: 'discovery', intervalMs: c.discoveryIntervalMs }, async () => {
            await runDiscovery(c.discoveryDirs, { api, scan: this.scan, log: this.log, signal: this.hardStop.signal });
          }),
        );
      }
      await Promise.all(loops);
    } catch (e) {
      this.fail(e);
    } finally {
      await api.close().catch(() => undefined);
    }
    return this.stopped();
  }

  private stopped(): number {
    this.log.info('agent stopped', { exit_code: this.exitCode });
    return this.exitCode;
  }

  /** One poll: the actionable jobs, handled one at a time (so one deployment at a time). */
  async pollOnce(api: ServerApi, keys: KeyStore): Promise<void> {
    const items: WorkItem[] = await api.work();
    for (const item of items) {
      if (this.stopping.signal.aborted) return;
      const ctx = { job_id: item.id, type: item.type, certificate_id: item.certificate_id };
      try {
        if (item.status === 'AwaitingCSR') await handleCsrJob(item, { api, keys, log: this.log });
        else if (item.type === 'Deployment' && item.status === 'Pending') {
          await handleDeploymentJob(item, {
            api,
            keys,
            log: this.log,
            connectors: this.connectors,
            hardStop: this.hardStop.signal,
            targetSecretsFile: this.config.targetSecretsFile,
          });
        } else this.log.debug('ignoring a work item of an unknown kind', { ...ctx, status: item.status });
      } catch (e) {
        // One bad job (4xx) must not hold up the others; anything else backs off the loop.
        if (isApiError(e) && e.status >= 400 && e.status < 500 && e.status !== 401 && e.status !== 403) {
          this.log.warn('work item refused by the server', { ...ctx, status: e.status, error: e.message });
          continue;
        }
        throw e;
      }
    }
  }

  private loop(o: Pick<LoopOptions, 'name' | 'intervalMs'>, task: () => Promise<void>): Promise<void> {
    return runLoop(
      task,
      {
        ...o,
        backoff: { baseMs: this.config.backoffBaseMs, maxMs: this.config.backoffMaxMs },
        onFailure: (e, failures, retryInMs) =>
          this.log.warn(`${o.name} failed; backing off`, {
            loop: o.name,
            failures,
            retry_in_ms: retryInMs,
            error: errorText(e),
          }),
        onRecovery: (failures) => this.log.info(`${o.name} recovered`, { loop: o.name, after_failures: failures }),
      },
      this.stopping.signal,
    ).catch((e: unknown) => this.fail(e));
  }

  /** Retries `fn` with backoff until it succeeds or a stop is requested (undefined then). */
  private async withRetry<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
    for (let failures = 1; !this.stopping.signal.aborted; failures++) {
      try {
        return await fn();
      } catch (e) {
        if (e instanceof StopAgent) throw e;
        const delay = backoffDelay(failures, { baseMs: this.config.backoffBaseMs, maxMs: this.config.backoffMaxMs });
        this.log.warn(`${name} failed; retrying`, { failures, retry_in_ms: delay, error: errorText(e) });
        await sleep(delay, this.stopping.signal);
      }
    }
    return undefined;
  }

  /** Ends every loop; StopAgent carries the exit code, anything else is 1. */
  private fail(e: unknown): void {
    if (e instanceof StopAgent) {
      (e.exitCode === 0 ? this.log.info.bind(this.log) : this.log.error.bind(this.log))(e.message, {
        exit_code: e.exitCode,
      });
      this.exitCode = e.exitCode;
    } else {
      this.log.error('agent failed', { error: errorText(e), stack: e instanceof Error ? e.stack : undefined });
      this.exitCode = 1;
    }
    if (!this.stopping.signal.aborted) this.stopping.abort(e);
  }
}
