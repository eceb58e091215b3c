import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import { DomainError, ErrorCode, invalid } from '@certctl/domain';

/** Answers bigger than this are not what a CA API sends (a chain is a few KiB). */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export const DEFAULT_CA_TIMEOUT_SECONDS = 30;

/** A connector's `timeout_seconds` setting (default 30 s) as the deadline caHttp takes. */
export function caTimeoutMs(timeoutSeconds: number | undefined): number {
  return (timeoutSeconds ?? DEFAULT_CA_TIMEOUT_SECONDS) * 1000;
}

export interface CaHttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as application/x-www-form-urlencoded (HTML form endpoints such as ADCS certsrv); not with `json`. */
  form?: Record<string, string>;
  /** Trust anchors (PEM) for the CA's TLS certificate; default: Node's public roots. */
  ca?: string;
  /** TLS client certificate (mutual TLS: EJBCA, Entrust, GlobalSign), PEM. */
  clientCert?: { cert: string; key: string; passphrase?: string };
  /**
   * Accepts the TLS certificate whatever signs it (used once to fetch a root that is then
   * checked against a pinned fingerprint, as `step ca bootstrap` does). Never for API calls.
   */
  insecureFetchForPinnedCheck?: boolean;
  /** Overall deadline (connect + answer). */
  timeoutMs: number;
  /** Names the CA in error messages ("Vault PKI", "step-ca"). */
  what: string;
}

export interface CaHttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, undefined when it is not JSON. */
  json: unknown;
}

/**
 * One HTTP(S) exchange with a CA API under a hard deadline. Transport failures (refused,
 * reset, TLS, deadline) are `Unavailable` so the job's retry loop picks them up; the
 * caller maps HTTP error statuses with its CA's error shape.
 */
export function caHttp(req: CaHttpRequest): Promise<CaHttpResponse> {
  const url = new URL(req.url);
  const body =
    req.form !== undefined
      ? Buffer.from(new URLSearchParams(req.form).toString())
      : req.json === undefined
        ? undefined
        : Buffer.from(JSON.stringify(req.json));
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  if (body) {
    headers['content-type'] = req.form !== undefined ? 'application/x-www-form-urlencoded' : 'application/json';
    headers['content-length'] = String(body.length);
  }
  const options: RequestOptions = {
    method: req.method,
    headers,
    ca: req.ca,
    ...(req.clientCert ?? {}),
    rejectUnauthorized: !req.insecureFetchForPinnedCheck,
    // No connection reuse: each exchange gets its own deadline and nothing lingers after it.
    agent: false,
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<CaHttpResponse>((resolve, reject) => {
    let settled = false;
    const fail = (e: DomainError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      r.destroy();
      reject(e);
    };
    const r = send(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE_BYTES) {
          fail(unavailable(`${req.what}: the answer to ${req.method} ${url.pathname} is larger than 4 MiB`));
          return;
        }
        chunks.push(c);
      });
      res.on('error', (e) => fail(unavailable(`${req.what}: ${req.method} ${url.pathname} failed: ${e.message}`)));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    const timer = setTimeout(
      () =>
        fail(
          unavailable(
            `${req.what}: no answer from ${url.origin} to ${req.method} ${url.pathname} within ${Math.round(req.timeoutMs / 1000)} s`,
          ),
        ),
      req.timeoutMs,
    );
    r.on('error', (e: NodeJS.ErrnoException) =>
      fail(unavailable(`${req.what}: ${req.method} ${url.origin}${url.pathname} failed: ${e.code ?? e.message}`)),
    );
    r.end(body);
  });
}

export function unavailable(message: string): DomainError {
  return new DomainError(ErrorCode.Unavailable, message);
}

/**
 * Maps a CA's HTTP error status to a domain error: 429 is rate limiting and 5xx/408 are
 * outages (both retried); other 4xx say the request or the credentials are wrong, which
 * a retry will not fix.
 */
export function caStatusError(status: number, message: string): DomainError {
  if (status === 429) return new DomainError(ErrorCode.RateLimited, message);
  if (status >= 500 || status === 408) return unavailable(message);
  return new DomainError(ErrorCode.Validation, message);
}

/** A short, single-line excerpt of a body for error messages (bounded: bodies can be large). */
export function excerpt(text: string, max = 300): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

/** An id that goes into a URL path: digits only (CertCentral and SCM ids are numbers). */
export function numericPathSegment(id: string, what: string): string {
  if (!/^\d{1,20}$/.test(id)) throw invalid(`${what} id ${JSON.stringify(id)} is not numeric`);
  return id;
}
