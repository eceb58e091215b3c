import * as asn1js from 'asn1js';
import { Agent, fetch } from 'undici';
import { ApiError } from '@certctl/api-client';

/**
 * A minimal EST (RFC 7030) client for the CLI. EST is a protocol endpoint under
 * `/.well-known/est`, not part of the REST API (and not in the OpenAPI document), so it is
 * called here with undici directly, with the same server URL and CA bundle as the API client.
 */

export interface EstClientOptions {
  /** The server's base URL, e.g. `https://certctl.example.com:8443`. */
  server: string;
  /** PEM CA certificate(s) trusted for the server's TLS certificate instead of the system store. */
  caBundlePem?: string;
  /** HTTP Basic credentials of the EST label. */
  username?: string;
  password?: string;
  /** TLS client certificate (PEM, optionally with its chain) and key, for labels that authenticate with mTLS. */
  clientCertPem?: string;
  clientKeyPem?: string;
  /** Bound on connecting and on waiting for headers and body (default 30 s). */
  timeoutMs?: number;
  userAgent?: string;
}

/** The server accepted the request but an approval (or another step) is still outstanding (202). */
export class EstPendingError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds: number | undefined,
  ) {
    super(message);
    this.name = 'EstPendingError';
  }
}

const PKCS7_SIGNED_DATA = '1.2.840.113549.1.7.2';

/**
 * The certificates of a certs-only PKCS#7 / CMS SignedData (what EST /cacerts and
 * /simpleenroll answer), each byte for byte as the server sent it, in order.
 */
export function certificatesFromPkcs7(der: Uint8Array): Uint8Array[] {
  const bad = (why: string): Error => new Error(`the server's answer is not a certs-only PKCS#7: ${why}`);
  const buffer = der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
  const parsed = asn1js.fromBER(buffer);
  if (parsed.offset === -1) throw bad(parsed.result.error || 'not DER');
  // ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SignedData }
  const ci = parsed.result;
  if (!(ci instanceof asn1js.Sequence)) throw bad('no ContentInfo');
  const [type, wrapped] = ci.valueBlock.value;
  if (!(type instanceof asn1js.ObjectIdentifier) || type.valueBlock.toString() !== PKCS7_SIGNED_DATA) {
    throw bad('content type is not signedData');
  }
  const signedData = (wrapped as asn1js.Constructed | undefined)?.valueBlock.value[0];
  if (!(signedData instanceof asn1js.Sequence)) throw bad('no SignedData');
  // SignedData ::= SEQUENCE { version, digestAlgorithms, encapContentInfo, certificates [0] IMPLICIT SET OF, ... }
  const certSet = signedData.valueBlock.value.find(
    (v) => v.idBlock.tagClass === 3 && v.idBlock.tagNumber === 0 && v.idBlock.isConstructed,
  ) as asn1js.Constructed | undefined;
  const certs = (certSet?.valueBlock.value ?? []).map((c) => new Uint8Array(c.valueBeforeDecodeView));
  if (certs.length === 0) throw bad('it holds no certificates');
  return certs;
}

/** The DER inside an EST base64 body (RFC 7030 4.1.3: base64, possibly in CRLF lines). */
export function decodeEstBase64(text: string): Uint8Array {
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length === 0) {
    throw new Error("the server's answer is not base64");
  }
  return new Uint8Array(Buffer.from(compact, 'base64'));
}

/** Base64 in 64-column lines, as EST request bodies are sent (Content-Transfer-Encoding: base64). */
function base64Lines(der: Uint8Array): string {
  return (
    (
      Buffer.from(der)
        .toString('base64')
        .match(/.{1,64}/g) ?? []
    ).join('\r\n') + '\r\n'
  );
}

export class EstClient {
  private readonly dispatcher: Agent;
  private readonly base: string;

  constructor(private readonly opts: EstClientOptions) {
    const timeout = opts.timeoutMs ?? 30_000;
    this.dispatcher = new Agent({
      connect: {
        timeout,
        ...(opts.caBundlePem ? { ca: opts.caBundlePem } : {}),
        ...(opts.clientCertPem ? { cert: opts.clientCertPem, key: opts.clientKeyPem } : {}),
      },
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    this.base = `${opts.server.replace(/\/+$/, '')}/.well-known/est`;
  }

  /** `/.well-known/est/<op>` or `/.well-known/est/<label>/<op>`. */
  url(op: string, label?: string): string {
    return label ? `${this.base}/${encodeURIComponent(label)}/${op}` : `${this.base}/${op}`;
  }

  /** GET /cacerts: the CA certificates of the label (DER, in the server's order). */
  async cacerts(label?: string): Promise<Uint8Array[]> {
    const body = await this.call('GET', this.url('cacerts', label));
    return certificatesFromPkcs7(decodeEstBase64(body));
  }

  /** POST /simpleenroll with a DER PKCS#10 request: the issued certificate first, then any chain the server adds. */
  async simpleenroll(csrDer: Uint8Array, label?: string): Promise<Uint8Array[]> {
    const body = await this.call('POST', this.url('simpleenroll', label), base64Lines(csrDer), {
      'Content-Type': 'application/pkcs10',
      'Content-Transfer-Encoding': 'base64',
    });
    return certificatesFromPkcs7(decodeEstBase64(body));
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }

  private async call(method: string, url: string, body?: string, headers: Record<string, string> = {}) {
    const h: Record<string, string> = { ...headers };
    if (this.opts.userAgent) h['User-Agent'] = this.opts.userAgent;
    if (this.opts.username !== undefined) {
      const creds = `${this.opts.username}:${this.opts.password ?? ''}`;
      h.Authorization = `Basic ${Buffer.from(creds, 'utf8').toString('base64')}`;
    }
    const res = await fetch(url, { method, headers: h, body, dispatcher: this.dispatcher });
    const text = await res.text();
    if (res.status === 202) {
      const retry = Number(res.headers.get('retry-after'));
      throw new EstPendingError(text.trim() || 'enrollment is pending', Number.isFinite(retry) ? retry : undefined);
    }
    if (!res.ok) {
      // Errors are the server's JSON error body; anything else is quoted as text.
      let parsed: unknown = text;
      if ((res.headers.get('content-type') ?? '').includes('json')) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
      }
      throw ApiError.from(res, parsed);
    }
    return text;
  }
}
