import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { DeployMaterial } from '../target-port';

/*
 * A local HTTPS server speaking the Kubernetes API wire format for core/v1 Secrets (GET, POST,
 * PUT on /api/v1/namespaces/{ns}/secrets[/{name}]): Status objects, 404 NotFound, 409
 * AlreadyExists / Conflict on a stale resourceVersion, 401 without the bearer token,
 * 422 on a type change. The Kubernetes connector under test talks to it over real TLS.
 * Used by specs only.
 */

export type StoredSecret = Record<string, unknown> & {
  metadata: Record<string, unknown> & { resourceVersion: string };
};

export interface FakeKubeApi {
  url: string;
  token: string;
  secrets: Map<string, StoredSecret>;
  /** Every request as `METHOD path`. */
  requests: string[];
  /** Called before a PUT is applied (e.g. to make a concurrent write). */
  beforePut?: (key: string) => void;
  /** Simulates another writer: bumps the stored resourceVersion. */
  touch(key: string): void;
  close(): Promise<void>;
}

const PATH = /^\/api\/v1\/namespaces\/([a-z0-9-]+)\/secrets(?:\/([a-z0-9.-]+))?$/;

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
}

function send(res: ServerResponse, code: number, obj: unknown): void {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(obj));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
}

/** `tls` is the server certificate (for localhost/127.0.0.1) and its key. */
export async function startFakeKubeApi(tls: DeployMaterial, token = 'test-token'): Promise<FakeKubeApi> {
  let version = 100;
  const secrets = new Map<string, StoredSecret>();
  const requests: string[] = [];
  const api: FakeKubeApi = {
    url: '',
    token,
    secrets,
    requests,
    touch(key) {
      const s = secrets.get(key);
      if (s) s.metadata.resourceVersion = String(++version);
    },
    close: () => new Promise((r) => server.close(() => r())),
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    requests.push(`${req.method} ${path}`);
    if (req.headers.authorization !== `Bearer ${token}`) {
      return status(res, 401, 'Unauthorized', 'Unauthorized');
    }
    const m = PATH.exec(path);
    if (!m) return status(res, 404, 'NotFound', 'the server could not find the requested resource');
    const [, ns, name] = m;
    const key = `${ns}/${name ?? ''}`;
    if (req.method === 'GET' && name) {
      const s = secrets.get(key);
      return s ? send(res, 200, s) : status(res, 404, 'NotFound', `secrets "${name}" not found`);
    }
    if (req.method === 'POST' && !name) {
      const body = await readJson(req);
      const meta = (body.metadata ?? {}) as Record<string, unknown>;
      const n = String(meta.name);
      if (secrets.has(`${ns}/${n}`)) return status(res, 409, 'AlreadyExists', `secrets "${n}" already exists`);
      const stored = {
        ...body,
        metadata: { ...meta, namespace: ns, uid: `uid-${n}`, resourceVersion: String(++version) },
      };
      secrets.set(`${ns}/${n}`, stored);
      return send(res, 201, stored);
    }
    if (req.method === 'PUT' && name) {
      const body = await readJson(req);
      api.beforePut?.(key);
      const s = secrets.get(key);
      if (!s) return status(res, 404, 'NotFound', `secrets "${name}" not found`);
      const meta = (body.metadata ?? {}) as Record<string, unknown>;
      if (meta.resourceVersion !== s.metadata.resourceVersion) {
        return status(
          res,
          409,
          'Conflict',
          `Operation cannot be fulfilled on secrets "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        );
      }
      if (body.type !== s.type)
        return status(res, 422, 'Invalid', `Secret "${name}" is invalid: type: field is immutable`);
      const stored = { ...body, metadata: { ...meta, resourceVersion: String(++version) } } as StoredSecret;
      secrets.set(key, stored);
      return send(res, 200, stored);
    }
    return status(res, 405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  };

  const server = createServer({ cert: tls.certPem + tls.chainPem, key: tls.keyPem }, (req, res) => {
    handle(req, res).catch((err: Error) => status(res, 500, 'InternalError', err.message));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  api.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return api;
}

/** A kubeconfig for the fake API server with a bearer token and its CA. */
export function kubeconfigFor(
  url: string,
  caPem: string,
  token: string,
  extraUser: Record<string, string> = {},
): string {
  const user = Object.entries({ token, ...extraUser })
    .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)
    .join('\n');
  return `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ${url}
    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}
contexts:
- name: test
  context:
    cluster: test
    user: tester
current-context: test
users:
- name: tester
  user:
${user}
`;
}
