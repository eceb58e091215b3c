import type { RequestOptions as HttpsRequestOptions } from 'node:https';
import { DomainError, ErrorCode, invalid } from '@certctl/domain';
import { httpExchange, type HttpExchangeResult } from '../../targets/http-exchange';

/** Largest ACME response read (a certificate chain with alternates stays far below this). */
const MAX_RESPONSE_BYTES = 1024 * 1024;
const REQUEST_TIMEOUT_MS = 30_000;

/** An RFC 7807 problem document from the CA (RFC 8555 section 6.7). */
export interface AcmeProblem {
  type?: string;
  detail?: string;
  status?: number;
  subproblems?: { type?: string; detail?: string; identifier?: { type: string; value: string } }[];
}

export interface AcmeResponse {
  status: number;
  headers: HttpExchangeResult['headers'];
  body: Buffer;
}

/** A CA answer that is an error: keeps the problem document so callers can act on its type. */
export class AcmeProblemError extends DomainError {
  constructor(
    readonly problem: AcmeProblem,
    readonly httpStatus: number,
    what: string,
  ) {
    super(problemCode(problem, httpStatus), `ACME ${what}: ${describeProblem(problem, httpStatus)}`, {
      acme_error: problem.type,
    });
  }
}

function problemCode(p: AcmeProblem, status: number): ErrorCode {
  if (p.type === 'urn:ietf:params:acme:error:rateLimited' || status === 429) return ErrorCode.RateLimited;
  // The CA or the path to it is in trouble: retrying later can succeed.
  if (status >= 500 || p.type === 'urn:ietf:params:acme:error:serverInternal') return ErrorCode.Unavailable;
  return ErrorCode.Validation;
}

export function describeProblem(p: AcmeProblem, status?: number): string {
  const type = p.type?.replace('urn:ietf:params:acme:error:', '') ?? `HTTP ${status ?? '?'}`;
  const subs = (p.subproblems ?? [])
    .map((s) => `${s.identifier?.value ?? '?'}: ${s.detail ?? s.type ?? ''}`)
    .join('; ');
  return `${type}${p.detail ? `: ${p.detail}` : ''}${subs ? ` (${subs})` : ''}`;
}

export function unavailable(message: string): DomainError {
  return new DomainError(ErrorCode.Unavailable, message);
}

/**
 * HTTPS to the CA through node:https, so an issuer can trust a private TLS root (Pebble,
 * an internal step-ca) without touching the process-wide trust store.
 */
export class AcmeTransport {
  constructor(private readonly ca?: string) {}

  async request(
    method: 'GET' | 'HEAD' | 'POST',
    url: string,
    opts: { body?: string; accept?: string; contentType?: string } = {},
  ): Promise<AcmeResponse> {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw invalid(`ACME: the CA named an invalid URL ${JSON.stringify(url)}`);
    }
    if (target.protocol !== 'https:') throw invalid(`ACME: ${url} is not https (RFC 8555 requires TLS)`);
    const headers: Record<string, string> = { 'User-Agent': 'certctl-acme-client' };
    if (opts.body !== undefined) headers['Content-Type'] = opts.contentType ?? 'application/jose+json';
    if (opts.accept) headers.Accept = opts.accept;
    try {
      // node:https honours `ca` (httpExchange passes the options through to it).
      const tls: HttpsRequestOptions = { method, headers, ca: this.ca };
      const r = await httpExchange(
        target,
        { ...tls, timeoutMs: REQUEST_TIMEOUT_MS, maxBytes: MAX_RESPONSE_BYTES },
        opts.body,
      );
      return { status: r.status, headers: r.headers, body: r.body };
    } catch (e) {
      throw unavailable(`ACME: ${method} ${url} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

export function header(r: AcmeResponse, name: string): string | undefined {
  const v = r.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Every `Link: <url>;rel="name"` target (RFC 8288), e.g. rel=alternate chains, rel=up issuers. */
export function links(r: AcmeResponse, rel: string): string[] {
  const raw = r.headers.link;
  const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const out: string[] = [];
  for (const value of values) {
    for (const part of value.split(/,(?=\s*<)/)) {
      const m = /^\s*<([^>]*)>(.*)$/.exec(part);
      if (!m) continue;
      const rels = /;\s*rel="?([^";]+)"?/i.exec(m[2])?.[1].split(/\s+/) ?? [];
      if (rels.includes(rel)) out.push(m[1]);
    }
  }
  return out;
}

/** Seconds from a Retry-After header (delta-seconds or HTTP date), when present. */
export function retryAfterSeconds(r: AcmeResponse, now = Date.now()): number | undefined {
  const v = header(r, 'retry-after');
  if (v === undefined) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim());
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

export function json<T>(r: AcmeResponse, what: string): T {
  try {
    return JSON.parse(r.body.toString('utf8')) as T;
  } catch {
    throw unavailable(`ACME ${what}: the CA answered HTTP ${r.status} without a JSON body`);
  }
}
