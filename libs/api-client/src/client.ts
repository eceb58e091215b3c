import createClient, { type Client } from 'openapi-fetch';
import { Agent, fetch as undiciFetch, Request as UndiciRequest } from 'undici';
import type { paths } from './schema';

export interface CertctlClientOptions {
  /** The server's base URL, e.g. `https://certctl.example.com:8443` (no `/api/v1`). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey: string;
  /** PEM CA certificate(s) to trust for the server's TLS certificate, instead of the system store. */
  caBundlePem?: string;
  /** Bound on connecting and on waiting for headers and body (default 30 s). */
  timeoutMs?: number;
  userAgent?: string;
}

/** The typed client (openapi-fetch over the server's OpenAPI document) plus a way to close its connections. */
export type CertctlClient = Client<paths> & {
  readonly baseUrl: string;
  /** Closes the connection pool; the client must not be used afterwards. */
  close(): Promise<void>;
};

/**
 * A client of the certctl REST API. Requests go through undici's own fetch with a dedicated
 * connection pool (the `ca` option only trusts `caBundlePem`), so nothing depends on
 * process-wide settings such as NODE_EXTRA_CA_CERTS.
 */
export function createCertctlClient(opts: CertctlClientOptions): CertctlClient {
  const timeout = opts.timeoutMs ?? 30_000;
  const dispatcher = new Agent({
    connect: { ...(opts.caBundlePem ? { ca: opts.caBundlePem } : {}), timeout },
    headersTimeout: timeout,
    bodyTimeout: timeout,
  });
  const baseUrl = opts.baseUrl.replace(/\/+$/, '');
  const client = createClient<paths>({
    baseUrl,
    headers: {
      Authorization: `Bearer ${opts.apiKey}`,
      ...(opts.userAgent ? { 'User-Agent': opts.userAgent } : {}),
    },
    // undici's Request and fetch go together (the global ones belong to Node's bundled copy).
    Request: UndiciRequest as unknown as typeof Request,
    fetch: ((req: UndiciRequest) => undiciFetch(req, { dispatcher })) as unknown as (r: Request) => Promise<Response>,
  });
  return Object.assign(client, { baseUrl, close: () => dispatcher.close() });
}
