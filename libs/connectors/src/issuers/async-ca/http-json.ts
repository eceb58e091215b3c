import {
  caHttp,
  caStatusError,
  caTimeoutMs,
  excerpt,
  type CaHttpRequest,
  type CaHttpResponse,
} from '../remote-ca/ca-http';
import { readClientCertificate, readOptionalCaBundle, type ClientCertPaths } from '../remote-ca/trust';

/** Settings common to the commercial CA clients. */
export interface ApiClientOptions {
  baseUrl: string;
  /** Names the CA in every error ("DigiCert", "Sectigo"). */
  what: string;
  /** Fixed headers, or a function called before each request (a bearer token that expires). */
  headers: Record<string, string> | (() => Promise<Record<string, string>>);
  timeoutMs: number;
  /** config.ca_cert_path: the bundle that signs the API's TLS certificate. */
  caCertPath?: string;
  /** The config field caCertPath came from, for error messages (default ca_cert_path). */
  caCertField?: string;
  /** Mutual TLS: PEM files of the client certificate and its key (read once, on first use). */
  clientCert?: ClientCertPaths;
  /** Maps an error body to the CA's message (each vendor has its own error shape). */
  errorMessage: (res: CaHttpResponse) => string | undefined;
}

/**
 * A small JSON client over caHttp: every call has the deadline and the CA's name, and an
 * HTTP error becomes a domain error quoting the vendor's message (5xx/408: Unavailable, so
 * the retry loop takes the job again; 429: RateLimited; other 4xx: Validation). Credential
 * headers are never part of an error message.
 */
export class ApiClient {
  private trust?: Promise<string | undefined>;
  private client?: Promise<CaHttpRequest['clientCert']>;

  constructor(private readonly o: ApiClientOptions) {}

  async call(
    method: CaHttpRequest['method'],
    path: string,
    json?: unknown,
    accept = 'application/json',
  ): Promise<CaHttpResponse> {
    const res = await this.raw(method, path, json, accept);
    if (res.status >= 200 && res.status < 300) return res;
    throw this.error(method, path, res);
  }

  /** The exchange without status mapping (callers that read a non-2xx as a state). */
  async raw(
    method: CaHttpRequest['method'],
    path: string,
    json?: unknown,
    accept = 'application/json',
  ): Promise<CaHttpResponse> {
    this.trust ??= readOptionalCaBundle(this.o.caCertPath, `config.${this.o.caCertField ?? 'ca_cert_path'}`);
    this.client ??= this.o.clientCert ? readClientCertificate(this.o.clientCert) : Promise.resolve(undefined);
    const headers = typeof this.o.headers === 'function' ? await this.o.headers() : this.o.headers;
    return caHttp({
      clientCert: await this.client,
      method,
      url: `${this.o.baseUrl.replace(/\/+$/, '')}${path}`,
      headers: { ...headers, accept },
      json,
      ca: await this.trust,
      timeoutMs: this.o.timeoutMs,
      what: this.o.what,
    });
  }

  error(method: string, path: string, res: CaHttpResponse): Error {
    const detail = this.o.errorMessage(res) ?? (excerpt(res.text) || 'no details');
    return caStatusError(res.status, `${this.o.what}: ${method} ${path} answered HTTP ${res.status}: ${detail}`);
  }
}

/** The settings of a mutual-TLS CA's config (Entrust, GlobalSign): its trust bundle and client certificate. */
export interface MutualTlsConfig {
  timeout_seconds?: number;
  trust_ca_path?: string;
  client_cert_path: string;
  client_key_path: string;
  client_key_passphrase?: string;
}

/** The ApiClient transport options of a mutual-TLS CA config. */
export function mutualTlsOptions(
  cfg: MutualTlsConfig,
): Pick<ApiClientOptions, 'timeoutMs' | 'caCertPath' | 'caCertField' | 'clientCert'> {
  return {
    timeoutMs: caTimeoutMs(cfg.timeout_seconds),
    caCertPath: cfg.trust_ca_path,
    caCertField: 'trust_ca_path',
    clientCert: {
      certPath: cfg.client_cert_path,
      keyPath: cfg.client_key_path,
      passphrase: cfg.client_key_passphrase,
    },
  };
}
