import { Agent } from 'node:https';
import { ACMPCAClient, type ACMPCAClientConfig } from '@aws-sdk/client-acm-pca';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { DomainError, ErrorCode } from '@certctl/domain';
import type { AwsAcmPcaConfig } from '../issuer-configs';
import { excerpt } from '../remote-ca/ca-http';

export const WHAT = 'AWS ACM PCA';
/** Assumed-role sessions are renewed this long before they expire. */
const ROLE_REFRESH_MARGIN_MS = 5 * 60_000;

/** An AWS credential set (static keys or an assumed role's session). */
interface AwsCredentialIdentity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** What an AWS SDK error carries (ServiceException fields, or a transport error). */
interface AwsSdkError {
  name?: string;
  message?: string;
  code?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
}

/**
 * The ACM PCA client of one issuer: the region (SigV4 scope), the optional endpoint override
 * with its trust anchors, a per-request deadline, and credentials (static keys, an assumed
 * role, or the SDK's default chain: env, shared files, web identity, ECS/EC2 roles). The SDK
 * does not retry: the job's retry loop owns retries, so an outage fails fast and visibly.
 */
export function acmPcaClient(cfg: AwsAcmPcaConfig, timeoutMs: number, caPem?: string): ACMPCAClient {
  return new ACMPCAClient({
    region: cfg.region,
    ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
    credentials: credentials(cfg, caPem),
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: timeoutMs,
      requestTimeout: timeoutMs,
      // No keep-alive: connectors are built per operation, so pooled sockets would only linger.
      httpsAgent: new Agent({ keepAlive: false, ...(caPem ? { ca: caPem } : {}) }),
    },
  });
}

function credentials(cfg: AwsAcmPcaConfig, caPem?: string): ACMPCAClientConfig['credentials'] {
  const base: AwsCredentialIdentity | undefined =
    cfg.access_key_id && cfg.secret_access_key
      ? { accessKeyId: cfg.access_key_id, secretAccessKey: cfg.secret_access_key, sessionToken: cfg.session_token }
      : undefined;
  if (!cfg.role_arn) return base; // undefined: the SDK's default provider chain
  const roleArn = cfg.role_arn;
  // Sessions are shared by the connectors of one issuer (built per operation): one AssumeRole
  // per session lifetime, not per call. Keyed by role, region and base key id (not the secret).
  const cacheKey = `${roleArn}|${cfg.region}|${base?.accessKeyId ?? 'default-chain'}`;
  return async () => {
    const cached = roleSessions.get(cacheKey);
    const exp = cached?.expiration?.getTime();
    if (cached && exp !== undefined && exp - ROLE_REFRESH_MARGIN_MS > Date.now()) return cached;
    const sts = new STSClient({
      region: cfg.region,
      credentials: base,
      maxAttempts: 1,
      requestHandler: { httpsAgent: new Agent({ keepAlive: false, ...(caPem ? { ca: caPem } : {}) }) },
    });
    const out = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'certctl' }));
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) {
      throw new DomainError(ErrorCode.Unavailable, `${WHAT}: AssumeRole ${roleArn} answered no credentials`);
    }
    const session = {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: c.Expiration,
    };
    roleSessions.set(cacheKey, session);
    return session;
  };
}

/** Assumed-role sessions (short-lived, per replica: each replica can assume the role itself). */
const roleSessions = new Map<string, AwsCredentialIdentity>();

/** The exception name of an SDK error ("RequestInProgressException", ...). */
export function awsErrorName(e: unknown): string | undefined {
  return (e as AwsSdkError | undefined)?.name;
}

/**
 * Maps an SDK failure to a domain error naming the operation and AWS's exception: throttling
 * is RateLimited, server faults and transport failures (refused, reset, deadline) are
 * Unavailable (retried by the job loop), other client faults Validation. Credentials never
 * appear: SDK messages do not carry them.
 */
export function awsError(op: string, e: unknown): DomainError {
  if (e instanceof DomainError) return e;
  const err = (e ?? {}) as AwsSdkError;
  const status = err.$metadata?.httpStatusCode;
  const name = err.name ?? 'Error';
  const detail = excerpt(err.message ?? String(e));
  if (name === 'CredentialsProviderError') {
    return new DomainError(
      ErrorCode.Validation,
      `${WHAT}: ${op}: no AWS credentials (set access_key_id/secret_access_key, or give the server a role): ${detail}`,
    );
  }
  if (status === undefined) {
    const what = name === 'TimeoutError' ? 'no answer in time' : (err.code ?? name);
    return new DomainError(ErrorCode.Unavailable, `${WHAT}: ${op} failed: ${what}: ${detail}`);
  }
  const message = `${WHAT}: ${op} answered HTTP ${status}: ${name}: ${detail}`;
  if (name === 'ThrottlingException' || name === 'TooManyRequestsException' || status === 429) {
    return new DomainError(ErrorCode.RateLimited, message);
  }
  if (status >= 500 || err.$fault === 'server') return new DomainError(ErrorCode.Unavailable, message);
  return new DomainError(ErrorCode.Validation, message);
}
