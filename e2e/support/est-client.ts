import { X509Certificate } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

/**
 * A small EST client over node:https for the in-process tests: TLS 1.3 to 127.0.0.1,
 * trusting exactly the server's TLS CA, with an optional client certificate, HTTP Basic
 * credentials, and an optional pre-connected TLS socket (channel binding: the CSR must be
 * built with the exporter value of the connection that carries it).
 */

export interface EstClientTls {
  port: number;
  /** PEM of the CA the server's TLS certificate chains to. */
  ca: string;
  /** PEM client certificate (and chain) and key. */
  cert?: string;
  key?: string;
}

export interface EstCall extends EstClientTls {
  method: 'GET' | 'POST';
  path: string;
  body?: Buffer | string;
  headers?: Record<string, string>;
  basic?: { user: string; password: string };
  /** Send over this connected socket (see connectEst) instead of a new connection. */
  socket?: TLSSocket;
  /** Source address (another loopback address: a client of its own for per-IP limits). */
  localAddress?: string;
  timeoutMs?: number;
}

export interface EstResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

/** A TLS 1.3 connection to the server, for requests that need its exporter value. */
export function connectEst(o: EstClientTls): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port: o.port,
      ca: o.ca,
      cert: o.cert,
      key: o.key,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['http/1.1'],
    });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** RFC 9266 tls-exporter value of a connection, base64 (what goes into challengePassword). */
export function channelBinding(socket: TLSSocket): string {
  return socket.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0)).toString('base64');
}

export function estCall(o: EstCall): Promise<EstResponse> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.basic) headers.Authorization = `Basic ${Buffer.from(`${o.basic.user}:${o.basic.password}`).toString('base64')}`;
  const payload = o.body === undefined ? undefined : Buffer.isBuffer(o.body) ? o.body : Buffer.from(o.body, 'latin1');
  if (payload) headers['Content-Length'] = String(payload.length);
  const timeoutMs = o.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: o.port,
        method: o.method,
        path: o.path,
        headers,
        ca: o.ca,
        cert: o.cert,
        key: o.key,
        minVersion: 'TLSv1.3',
        timeout: timeoutMs,
        localAddress: o.localAddress,
        // A fresh connection per request (agent: false); Node only uses createConnection
        // when no agent is given at all.
        ...(o.socket ? { agent: undefined, createConnection: () => o.socket } : { agent: false }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('latin1') });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${o.method} ${o.path}: no response within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** The DER of an EST base64 body (76-column CRLF lines), as TESTING.md's b64d does it. */
export function b64d(text: string | Buffer): Buffer {
  return Buffer.from(text.toString().replace(/[\r\n]/g, ''), 'base64');
}

/** The certificates of a certs-only PKCS#7 (DER), in order. */
export function certsOfPkcs7(der: Uint8Array): X509Certificate[] {
  const ci = pkijs.ContentInfo.fromBER(new Uint8Array(der));
  const sd = new pkijs.SignedData({ schema: ci.content });
  return (sd.certificates ?? []).map(
    (c) => new X509Certificate(Buffer.from((c as pkijs.Certificate).toSchema().toBER())),
  );
}

export interface MultipartPart {
  headers: Record<string, string>;
  body: Buffer;
}

/** The parts of a multipart/mixed body (serverkeygen), each body base64-decoded. */
export function multipartParts(contentType: string, body: Buffer): MultipartPart[] {
  const boundary = /boundary=("?)([^";]+)\1/.exec(contentType)?.[2];
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const text = body.toString('latin1');
  const parts: MultipartPart[] = [];
  for (const chunk of text.split(`--${boundary}`).slice(1)) {
    if (chunk.startsWith('--')) break;
    const [head, ...rest] = chunk.replace(/^\r\n/, '').split('\r\n\r\n');
    const headers: Record<string, string> = {};
    for (const line of head.split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    parts.push({ headers, body: b64d(rest.join('\r\n\r\n')) });
  }
  return parts;
}

/** Reads an ASN.1 value (for checking enveloped keys and CSR attributes in tests). */
export function asn1(der: Uint8Array): asn1js.AsnType {
  const parsed = asn1js.fromBER(new Uint8Array(der));
  if (parsed.offset === -1) throw new Error('not BER');
  return parsed.result;
}
