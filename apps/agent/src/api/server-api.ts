import {
  ApiError,
  createCertctlClient,
  unwrap,
  type CertctlClient,
  type components,
  type FetchResult,
} from '@certctl/api-client';
import { StopAgent } from '../loops/periodic-loop';
import { AGENT_VERSION } from '../version';

type Schemas = components['schemas'];
export type WorkItem = Schemas['AgentWorkItemDto'];
export type AgentJob = Schemas['AgentJobDto'];
export type AgentCertificate = Schemas['AgentCertificateDto'];
export type IssuedCertificate = Schemas['IssuedCertificateDto'];
export type RegisteredAgent = Schemas['RegisteredAgentDto'];
export type Heartbeat = Schemas['HeartbeatDto'];
export type JobStatusReport = Schemas['ReportJobStatusDto'];

/** POST /api/v1/jobs/{id}/verify */
export type VerificationReport = Schemas['ReportVerificationDto'];
/** POST /api/v1/agents/{id}/discoveries */
export type DiscoveryReport = Schemas['DiscoveryReportDto'];

/**
 * The agent's calls to the server, as this agent. Any 410 means the agent was retired: it
 * becomes StopAgent(exit 0), which ends every loop.
 */
export class ServerApi {
  private client: CertctlClient;
  private id: string | undefined;

  constructor(
    private readonly opts: { serverUrl: string; caBundlePem?: string },
    apiKey: string,
  ) {
    this.client = this.makeClient(apiKey);
  }

  get agentId(): string {
    if (!this.id) throw new Error('agent id not established yet');
    return this.id;
  }

  /** Switches to the agent's own identity (after registration or from configuration). */
  async useIdentity(agentId: string, apiKey: string): Promise<void> {
    this.id = agentId;
    const old = this.client;
    this.client = this.makeClient(apiKey);
    await old.close();
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** Registers an agent with the current credential; the answer carries the agent's own key (once). */
  register(name: string, hostname: string): Promise<RegisteredAgent> {
    return this.call(this.client.POST('/api/v1/agents', { body: { name, hostname } }));
  }

  heartbeat(body: Heartbeat): Promise<unknown> {
    return this.call(
      this.client.POST('/api/v1/agents/{id}/heartbeat', { params: { path: { id: this.agentId } }, body }),
    );
  }

  async work(limit = 50): Promise<WorkItem[]> {
    const r = await this.call(
      this.client.GET('/api/v1/agents/{id}/work', { params: { path: { id: this.agentId }, query: { limit } } }),
    );
    return r.data;
  }

  submitCsr(certificateId: string, csrPem: string, jobId: string): Promise<IssuedCertificate> {
    return this.call(
      this.client.POST('/api/v1/agents/{id}/csr', {
        params: { path: { id: this.agentId } },
        body: { certificate_id: certificateId, csr_pem: csrPem, job_id: jobId },
      }),
    );
  }

  reportStatus(jobId: string, body: JobStatusReport): Promise<AgentJob> {
    return this.call(
      this.client.POST('/api/v1/agents/{id}/jobs/{job_id}/status', {
        params: { path: { id: this.agentId, job_id: jobId } },
        body,
      }),
    );
  }

  certificate(certificateId: string, versionId?: string): Promise<AgentCertificate> {
    return this.call(
      this.client.GET('/api/v1/agents/{id}/certificates/{cert_id}', {
        params: {
          path: { id: this.agentId, cert_id: certificateId },
          query: versionId ? { version_id: versionId } : {},
        },
      }),
    );
  }

  reportVerification(jobId: string, body: VerificationReport): Promise<unknown> {
    return this.call(this.client.POST('/api/v1/jobs/{id}/verify', { params: { path: { id: jobId } }, body }));
  }

  reportDiscoveries(body: DiscoveryReport): Promise<unknown> {
    return this.call(
      this.client.POST('/api/v1/agents/{id}/discoveries', { params: { path: { id: this.agentId } }, body }),
    );
  }

  private async call<D>(p: Promise<FetchResult<D>>): Promise<D> {
    try {
      return await unwrap(p);
    } catch (e) {
      if (e instanceof ApiError && e.status === 410) {
        throw new StopAgent(`the server says this agent is retired (410): ${e.message}`, 0);
      }
      throw e;
    }
  }

  private makeClient(apiKey: string): CertctlClient {
    return createCertctlClient({
      baseUrl: this.opts.serverUrl,
      apiKey,
      caBundlePem: this.opts.caBundlePem,
      userAgent: `certctl-agent/${AGENT_VERSION}`,
    });
  }
}
