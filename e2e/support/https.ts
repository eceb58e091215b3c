import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { connect as tlsConnect, type SecureVersion } from 'node:tls';
import { pollUntil } from './util';

/** An untyped JSON body (JSON.parse's own type), as supertest's `res.body`. */
type Json = ReturnType<typeof JSON.parse>;

export interface HttpsResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed body when the response is JSON, else undefined. */
  json: Json;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** Sends an `Authorization: Bearer <bearer>` header. */
  bearer?: string;
  /** Objects are sent as JSON; strings and Buffers as they are. */
  body?: unknown;
  timeoutMs?: number;
}

/**
 * HTTPS over loopback that trusts exactly the given CA (never rejectUnauthorized: false),
 * one connection per request (no agent), so restarts and outages never hit a stale socket.
 */
export class HttpsClient {
  private readonly ca: Buffer;

  constructor(
    readonly port: number,
    ca: string | Buffer,
    private readonly host = '127.0.0.1',
  ) {
    this.ca = typeof ca === 'string' ? readFileSync(ca) : ca;
  }

  get(path: string, opts: RequestOptions = {}): Promise<HttpsResponse> {
    return this.request('GET', path, opts);
  }

  post(path: string, body: unknown, opts: RequestOptions = {}): Promise<HttpsResponse> {
    return this.request('POST', path, { ...opts, body });
  }

  request(method: string, path: string, opts: RequestOptions = {}): Promise<HttpsResponse> {
    const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
    if (opts.bearer !== undefined) headers.Authorization = `Bearer ${opts.bearer}`;
    let payload: Buffer | undefined;
    if (opts.body !== undefined) {
      if (Buffer.isBuffer(opts.body)) payload = opts.body;
      else if (typeof opts.body === 'string') payload = Buffer.from(opts.body);
      else {
        payload = Buffer.from(JSON.stringify(opts.body));
        headers['Content-Type'] ??= 'application/json';
      }
      headers['Content-Length'] = String(payload.length);
    }
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const req = request(
        { host: this.host, port: this.port, method, path, headers, ca: this.ca, agent: false, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: Json;
            if (/[/+]json\b/.test(String(res.headers['content-type'] ?? ''))) {
              try {
                json = JSON.parse(text);
              } catch {
                json = undefined;
              }
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no response within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }
}

export interface HandshakeResult {
  /** The negotiated protocol, when the handshake completed. */
  protocol?: string;
  authorized?: boolean;
  /** SHA-256 fingerprint of the served leaf certificate (AA:BB:...). */
  fingerprint256?: string;
  /** The client-side error code and message, when the handshake failed. */
  error?: string;
}

/** One TLS handshake to 127.0.0.1:port, verifying against `ca`, within the given protocol range. */
export function tlsHandshake(
  port: number,
  ca: string | Buffer,
  { minVersion = 'TLSv1.2', maxVersion = 'TLSv1.3' }: { minVersion?: SecureVersion; maxVersion?: SecureVersion } = {},
  timeoutMs = 10_000,
): Promise<HandshakeResult> {
  const caPem = typeof ca === 'string' ? readFileSync(ca) : ca;
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: caPem, minVersion, maxVersion });
    const finish = (r: HandshakeResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ error: `no handshake within ${timeoutMs} ms` }), timeoutMs);
    socket.once('secureConnect', () =>
      finish({
        protocol: socket.getProtocol() ?? undefined,
        authorized: socket.authorized,
        fingerprint256: socket.getPeerCertificate().fingerprint256,
      }),
    );
    socket.once('error', (e: NodeJS.ErrnoException) => finish({ error: `${e.code ?? ''} ${e.message}`.trim() }));
  });
}

/**
 * An API call; with `expected`, asserts the status (method, path and body show in the
 * failure message).
 */
export async function apiCall(
  api: HttpsClient,
  bearer: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: object,
  expected?: number,
): Promise<HttpsResponse> {
  const r = await api.request(method, path, { bearer, body });
  if (expected !== undefined) {
    expect({ method, path, status: r.status, body: r.json ?? r.text }).toEqual({
      method,
      path,
      status: expected,
      body: expect.anything(),
    });
  }
  return r;
}

/** A Local CA issuer and an ECDSA P-256 profile (7-day certificates) through the API. */
export async function createIssuerAndProfile(
  api: HttpsClient,
  bearer: string,
  ids: { issuer: string; profile: string },
  name: string,
  /** Profile fields beyond the ECDSA P-256, 7-day default (key algorithms, SAN rules, ...). */
  profile: Record<string, unknown> = {},
): Promise<void> {
  await apiCall(api, bearer, 'POST', '/api/v1/issuers', { id: ids.issuer, name, type: 'LocalCA' }, 201);
  await apiCall(
    api,
    bearer,
    'POST',
    '/api/v1/profiles',
    {
      id: ids.profile,
      name,
      allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
      max_ttl_seconds: 7 * 86_400,
      ...profile,
    },
    201,
  );
}

/**
 * Starts a renewal (`POST /certificates/{id}/renew`, 202) and waits until its job is Completed
 * or Failed; the job as the API last showed it.
 */
export async function renewAndWait(
  api: HttpsClient,
  bearer: string,
  certId: string,
  timeoutMs = 30_000,
): Promise<{ id: string; status: string; last_error: string | null; agent_id: string | null }> {
  const job = await apiCall(api, bearer, 'POST', `/api/v1/certificates/${certId}/renew`, {}, 202);
  const jobId: string = job.json.id;
  const done = await pollUntil(
    `job ${jobId} finishes`,
    () => api.get(`/api/v1/jobs/${jobId}`, { bearer }),
    (r) => ['Completed', 'Failed'].includes(r.json?.status),
    { timeoutMs },
  );
  return done.json;
}
