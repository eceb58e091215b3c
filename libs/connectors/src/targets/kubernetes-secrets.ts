import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { TargetType } from '@certctl/domain';
import { load as loadYaml } from 'js-yaml';
import type { ConfigObject } from '../config/spec';
import { httpExchange } from './http-exchange';
import { checkDeployMaterial, joinPem, parseTargetConfig } from './pem-file-targets';
import { kubernetesSecretsConfig } from './target-configs';
import {
  DeployError,
  type DeployContext,
  type DeployMaterial,
  type DeployResult,
  type TargetConnector,
  type VerifyEndpoint,
} from './target-port';
import { certificateFingerprint, verifyEndpointFrom } from './verify-endpoint';

/*
 * Kubernetes `kubernetes.io/tls` Secrets through the API server's REST interface
 * (GET/POST/PUT /api/v1/namespaces/{ns}/secrets/{name}).
 *
 * Why not @kubernetes/client-node: 1.x ships ESM only (with an ESM dependency tree: openid-client,
 * jose, ...) and 2.x needs undici 8, i.e. Node >= 22.19, while this project runs CommonJS on
 * Node 20 (jest included). Three documented calls do not justify that: the wire format is
 * small and stable, so this file speaks it with node:https.
 */

export const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Label naming the certctl target that owns a Secret; another target's Secret is refused. */
export const TARGET_LABEL = 'certctl.io/target-id';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const CERT_SHA256_ANNOTATION = 'certctl.io/certificate-sha256';
export const CERT_ID_ANNOTATION = 'certctl.io/certificate-id';

const REQUEST_TIMEOUT_MS = 30_000;
const MAX_RESPONSE = 4 * 1024 * 1024;
/** Attempts when another writer changes the Secret between our read and our write (HTTP 409). */
const ATTEMPTS = 5;

/** Where and how to reach the API server. */
export interface KubeEndpoint {
  server: URL;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  token?: string;
  basic?: { username: string; password: string };
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (o: Obj, k: string): string | undefined => (typeof o[k] === 'string' ? o[k] : undefined);

function named(list: unknown, name: string, what: string): Obj {
  if (!Array.isArray(list)) throw new Error(`kubeconfig has no ${what}s list`);
  const hit = list.find((e) => isObj(e) && e.name === name) as Obj | undefined;
  const inner = hit?.[what];
  if (!isObj(inner)) throw new Error(`kubeconfig has no ${what} named ${name}`);
  return inner;
}

/** Inline `*-data` (base64) wins over a file path (read on the agent's host). */
function material(o: Obj, field: string): Buffer | undefined {
  const data = str(o, `${field}-data`);
  if (data !== undefined) return Buffer.from(data, 'base64');
  const file = str(o, field);
  return file !== undefined ? readFileSync(file) : undefined;
}

/**
 * The endpoint a kubeconfig's context (default: current-context) names. Supports a server
 * with certificate-authority(-data), insecure-skip-tls-verify and tls-server-name; users with
 * token / tokenFile, client-certificate(-data) + client-key(-data), or username/password.
 * exec and auth-provider plugins are refused (the agent runs no helper programs).
 */
export function kubeEndpointFromKubeconfig(text: string, context?: string): KubeEndpoint {
  let doc: unknown;
  try {
    doc = loadYaml(text);
  } catch (err) {
    throw new Error(`kubeconfig is not valid YAML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  if (!isObj(doc)) throw new Error('kubeconfig is not a YAML mapping');
  const ctxName = context ?? str(doc, 'current-context');
  if (!ctxName) throw new Error('kubeconfig has no current-context; set context');
  const ctx = named(doc.contexts, ctxName, 'context');
  const clusterName = str(ctx, 'cluster');
  if (!clusterName) throw new Error(`context ${ctxName} names no cluster`);
  const cluster = named(doc.clusters, clusterName, 'cluster');
  const server = str(cluster, 'server');
  if (!server) throw new Error(`cluster ${clusterName} has no server`);
  let url: URL;
  try {
    url = new URL(server);
  } catch (err) {
    throw new Error(`cluster ${clusterName} server is not a URL`, { cause: err });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`cluster ${clusterName} server must be https:// (or http:// for a local proxy)`);
  }
  const ep: KubeEndpoint = {
    server: url,
    ca: material(cluster, 'certificate-authority'),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    tlsServerName: str(cluster, 'tls-server-name'),
  };
  const userName = str(ctx, 'user');
  if (userName) {
    const user = named(doc.users, userName, 'user');
    if (user.exec !== undefined || user['auth-provider'] !== undefined) {
      throw new Error(
        `user ${userName} uses an exec/auth-provider plugin, which the agent does not run; use a token or a client certificate`,
      );
    }
    const tokenFile = str(user, 'tokenFile');
    ep.token = str(user, 'token') ?? (tokenFile !== undefined ? readFileSync(tokenFile, 'utf8').trim() : undefined);
    ep.cert = material(user, 'client-certificate');
    ep.key = material(user, 'client-key');
    const username = str(user, 'username');
    const password = str(user, 'password');
    if (username !== undefined && password !== undefined) ep.basic = { username, password };
    if ((ep.cert === undefined) !== (ep.key === undefined)) {
      throw new Error(`user ${userName} needs both client-certificate and client-key`);
    }
  }
  return ep;
}

/** The in-cluster endpoint: KUBERNETES_SERVICE_HOST/PORT and the mounted service account. */
export function inClusterEndpoint(env: NodeJS.ProcessEnv = process.env, saDir = SA_DIR): KubeEndpoint {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) {
    throw new Error('not running in a cluster (KUBERNETES_SERVICE_HOST is unset) and no kubeconfig is configured');
  }
  const read = (f: string) => {
    try {
      return readFileSync(`${saDir}/${f}`);
    } catch (err) {
      throw new Error(`cannot read the service account ${f} in ${saDir}: ${(err as Error).message}`, { cause: err });
    }
  };
  return {
    server: new URL(`https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`),
    ca: read('ca.crt'),
    token: read('token').toString('utf8').trim(),
  };
}

interface KubeResponse {
  status: number;
  body: unknown;
}

async function kubeRequest(
  ep: KubeEndpoint,
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<KubeResponse> {
  const url = new URL(ep.server.href);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (payload !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = String(Buffer.byteLength(payload));
  }
  if (ep.token !== undefined) headers.Authorization = `Bearer ${ep.token}`;
  else if (ep.basic) {
    headers.Authorization = `Basic ${Buffer.from(`${ep.basic.username}:${ep.basic.password}`).toString('base64')}`;
  }
  const https = url.protocol === 'https:';
  const tls = https
    ? {
        ca: ep.ca,
        cert: ep.cert,
        key: ep.key,
        rejectUnauthorized: !ep.insecureSkipTlsVerify,
        servername: ep.tlsServerName ?? (isIP(url.hostname.replace(/^\[|\]$/g, '')) === 0 ? url.hostname : undefined),
      }
    : {};
  const res = await httpExchange(
    url,
    { method, headers, signal, timeoutMs: REQUEST_TIMEOUT_MS, maxBytes: MAX_RESPONSE, ...tls },
    payload,
  );
  const text = res.body.toString('utf8');
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON (a proxy's error page): keep the text
  }
  return { status: res.status, body: parsed };
}

/** The `message` of a Kubernetes Status object, or the body text. */
function statusText(r: KubeResponse): string {
  if (isObj(r.body) && typeof r.body.message === 'string') return r.body.message.slice(0, 2000);
  return (typeof r.body === 'string' ? r.body : JSON.stringify(r.body)).trim().slice(0, 2000);
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const decoded = (v: unknown) => (typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : undefined);
/** Label values: at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends. */
const labelValue = (v: string) =>
  v
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');

/**
 * Kubernetes Secrets: creates or updates a `kubernetes.io/tls` Secret holding tls.crt
 * (certificate + chain), tls.key and, with include_ca, ca.crt (the chain). Credentials come
 * from the configured kubeconfig (context: `context` or its current-context) or, without one,
 * the pod's service account. The Secret is labelled as this target's (certctl.io/target-id,
 * app.kubernetes.io/managed-by=certctl) and annotated with the certificate's SHA-256; a
 * Secret another certctl target owns, or one of another type, is refused. Other keys, labels
 * and annotations on an existing Secret are kept. Same data and metadata: no write. Updates
 * carry the resourceVersion that was read; a 409 (someone else wrote in between) re-reads and
 * retries. One API write replaces the Secret atomically, so a failure leaves the old one.
 */
export const kubernetesSecretsConnector: TargetConnector = {
  type: TargetType.KubernetesSecrets,

  async deploy(material: DeployMaterial, ctx: DeployContext): Promise<DeployResult> {
    const c = parseTargetConfig(TargetType.KubernetesSecrets, kubernetesSecretsConfig, ctx.config);
    checkDeployMaterial(material);
    const log = ctx.log ?? (() => undefined);
    const refuse = (why: string): never => {
      throw new DeployError(why, 'remote', true);
    };

    let ep: KubeEndpoint;
    try {
      ep = c.kubeconfig !== undefined ? kubeEndpointFromKubeconfig(c.kubeconfig, c.context) : inClusterEndpoint();
    } catch (err) {
      return refuse(`cannot set up the Kubernetes API connection: ${(err as Error).message}`);
    }
    const collection = `/api/v1/namespaces/${encodeURIComponent(c.namespace)}/secrets`;
    const itemPath = `${collection}/${encodeURIComponent(c.secret_name)}`;
    const where = `${ep.server.origin}${itemPath}`;

    const data: Record<string, string> = {
      'tls.crt': joinPem(material.certPem, material.chainPem),
      'tls.key': joinPem(material.keyPem),
    };
    if (c.include_ca === true) data['ca.crt'] = joinPem(material.chainPem);
    const certificateId = ctx.certificateId;
    const labels: Record<string, string> = {
      ...(c.labels ?? {}),
      [MANAGED_BY_LABEL]: 'certctl',
      [TARGET_LABEL]: labelValue(ctx.targetId),
    };
    const annotations: Record<string, string> = {
      ...(c.annotations ?? {}),
      [CERT_SHA256_ANNOTATION]: certificateFingerprint(material.certPem),
      ...(certificateId !== undefined ? { [CERT_ID_ANNOTATION]: certificateId } : {}),
    };

    const call = async (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) => {
      try {
        return await kubeRequest(ep, method, path, body, ctx.signal);
      } catch (err) {
        return refuse(`cannot reach the Kubernetes API at ${ep.server.origin}: ${(err as Error).message}`);
      }
    };
    const failed = (what: string, r: KubeResponse) => {
      const hint =
        r.status === 401
          ? ' (the credentials were rejected)'
          : r.status === 403
            ? ` (the account needs get, create and update on secrets in namespace ${c.namespace})`
            : '';
      return refuse(`${what} ${where} answered HTTP ${r.status}${hint}: ${statusText(r)}`);
    };

    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const got = await call('GET', itemPath);
      if (got.status === 404) {
        const created = await call('POST', collection, {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: c.secret_name, namespace: c.namespace, labels, annotations },
          type: 'kubernetes.io/tls',
          data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
        });
        if (created.status === 409 && attempt < ATTEMPTS) {
          log(`Secret ${c.namespace}/${c.secret_name} was created meanwhile; reading it again`);
          continue;
        }
        if (created.status !== 201 && created.status !== 200) return failed('creating', created);
        const message = `created Secret ${c.namespace}/${c.secret_name} (kubernetes.io/tls)`;
        log(message);
        return { changed: true, written: [where], validated: false, reloaded: false, message };
      }
      if (got.status !== 200 || !isObj(got.body)) return failed('reading', got);

      const existing = got.body;
      const meta = isObj(existing.metadata) ? existing.metadata : {};
      const oldLabels = isObj(meta.labels) ? (meta.labels as Record<string, string>) : {};
      const oldAnnotations = isObj(meta.annotations) ? (meta.annotations as Record<string, string>) : {};
      const oldData = isObj(existing.data) ? existing.data : {};
      if (existing.type !== 'kubernetes.io/tls') {
        return refuse(
          `Secret ${c.namespace}/${c.secret_name} exists with type ${String(existing.type)}, not kubernetes.io/tls (a Secret's type cannot change); nothing written`,
        );
      }
      const owner = oldLabels[TARGET_LABEL];
      if (owner !== undefined && owner !== labels[TARGET_LABEL]) {
        return refuse(
          `Secret ${c.namespace}/${c.secret_name} belongs to certctl target ${owner} (label ${TARGET_LABEL}); nothing written`,
        );
      }
      const nextData: Obj = { ...oldData, ...Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) };
      // ca.crt this target wrote before goes when include_ca is switched off.
      if (c.include_ca !== true && owner !== undefined) delete nextData['ca.crt'];
      const same =
        Object.entries(data).every(([k, v]) => decoded(oldData[k]) === v) &&
        (c.include_ca === true || owner === undefined || oldData['ca.crt'] === undefined) &&
        Object.entries(labels).every(([k, v]) => oldLabels[k] === v) &&
        Object.entries(annotations).every(([k, v]) => oldAnnotations[k] === v);
      if (same) {
        const message = `Secret ${c.namespace}/${c.secret_name} already holds this certificate and key; nothing written`;
        log(message);
        return { changed: false, written: [], validated: false, reloaded: false, message };
      }
      if (owner === undefined)
        log(`taking over Secret ${c.namespace}/${c.secret_name} (it had no ${TARGET_LABEL} label)`);
      const next = {
        ...existing,
        metadata: {
          ...meta,
          labels: { ...oldLabels, ...labels },
          annotations: { ...oldAnnotations, ...annotations },
        },
        data: nextData,
      };
      const put = await call('PUT', itemPath, next);
      if (put.status === 409 && attempt < ATTEMPTS) {
        log(`Secret ${c.namespace}/${c.secret_name} changed meanwhile (resourceVersion); reading it again`);
        continue;
      }
      if (put.status !== 200) return failed('updating', put);
      const message = `updated Secret ${c.namespace}/${c.secret_name} (kubernetes.io/tls)`;
      log(message);
      return { changed: true, written: [where], validated: false, reloaded: false, message };
    }
    return refuse(`Secret ${c.namespace}/${c.secret_name} kept changing during the deployment; nothing written`);
  },

  verifyEndpoint(config: ConfigObject): VerifyEndpoint | undefined {
    return verifyEndpointFrom(config);
  },
};
