import type { TargetType } from '@certctl/domain';
import type { ConfigObject } from '../config/spec';

/** What an agent deploys: the certificate, its chain, and the key it generated (never from the server). */
export interface DeployMaterial {
  /** The leaf certificate, PEM. */
  certPem: string;
  /** CA certificates above the leaf, nearest first, PEM (may be empty). */
  chainPem: string;
  /** The private key, PEM (read by the agent from its key directory). */
  keyPem: string;
}

export interface DeployContext {
  targetId: string;
  jobId: string;
  /** The managed certificate being deployed (labels/annotations on remote objects). */
  certificateId?: string;
  /** The target's configuration, validated against its type's schema (secrets supplied by the agent). */
  config: ConfigObject;
  /** Progress lines for the agent's log and the job's report. */
  log?: (line: string) => void;
  /** Aborts long steps (commands, remote calls) on shutdown; an aborted deploy rolls back. */
  signal?: AbortSignal;
}

export interface DeployResult {
  /** False when every file already held these bytes (nothing written, nothing reloaded). */
  changed: boolean;
  /** Files (or remote objects) written. */
  written: string[];
  validated: boolean;
  reloaded: boolean;
  message: string;
}

/** A failed deployment; `rolledBack` says whether every written file was restored. */
export class DeployError extends Error {
  constructor(
    message: string,
    readonly step: 'write' | 'validate' | 'reload' | 'remote',
    readonly rolledBack: boolean,
  ) {
    super(message);
    this.name = 'DeployError';
  }
}

/** Where a TLS handshake checks what the target serves after a deployment. */
export interface VerifyEndpoint {
  host: string;
  port: number;
  /** SNI name to send (default: host when it is a name). */
  servername?: string;
}

/**
 * The target port: one adapter per target type, used by the agent on the host it runs on
 * (agentless SSH/Kubernetes adapters reach the target from there). Adapters never run shell
 * strings: commands are argument vectors from validated configuration.
 */
export interface TargetConnector {
  readonly type: TargetType;
  deploy(material: DeployMaterial, ctx: DeployContext): Promise<DeployResult>;
  /** The endpoint configured for post-deploy verification, if any. */
  verifyEndpoint(config: ConfigObject): VerifyEndpoint | undefined;
}
