import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import {
  createIntermediateCa,
  createRootCa,
  createSelfSignedTlsBundle,
  issueLeaf,
  issueTlsServerCertificate,
  parseCsr,
  type CaSigner,
  type SubjectAltNames,
} from '@certctl/pki';

/** Test helpers for remote-CA connectors: a local HTTPS API and a CA behind it. Not for production code. */

export interface ApiRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: unknown;
  /** Mutual TLS (`clientCa`): the subject CN of the client certificate presented. */
  clientCn?: string;
}

export interface ApiAnswer {
  status: number;
  /** An object is sent as JSON; a string as `contentType` (default text/plain). */
  body?: unknown;
  contentType?: string;
  /** Extra response headers (Retry-After, ...). */
  headers?: Record<string, string>;
}

/** Decides the answer; `undefined` means never answer (a hung CA). */
export type ApiHandler = (req: ApiRequest) => Promise<ApiAnswer | undefined> | ApiAnswer | undefined;

/**
 * An HTTPS server on 127.0.0.1 (ephemeral port, its own TLS CA) standing in for a CA's
 * API. It records every request; its handler checks the documented request shape and
 * answers as the vendor documents (or not at all).
 */
export class FakeCaApi {
  readonly received: ApiRequest[] = [];
  handler: ApiHandler = () => ({ status: 404, body: { errors: ['no handler'] } });

  private constructor(
    private readonly server: Server,
    private readonly sockets: Set<Duplex>,
    readonly url: string,
    /** PEM of the CA that signs the server's TLS certificate (trust it in the client). */
    readonly tlsCaPem: string,
  ) {}

  /** With `tlsCa` the server certificate is signed by that CA (e.g. the CA's own root, as step-ca does). */
  /** With `clientCa` (PEM) the server requires a client certificate signed by it (mutual TLS). */
  static async start(
    opts: { tlsCa?: { certPem: string; keyPem: string }; clientCa?: string } = {},
  ): Promise<FakeCaApi> {
    const names = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };
    const tls = opts.tlsCa
      ? {
          caCertPem: opts.tlsCa.certPem,
          ...(await issueTlsServerCertificate({
            ...names,
            caCertPem: opts.tlsCa.certPem,
            caKeyPem: opts.tlsCa.keyPem,
          })),
        }
      : await createSelfSignedTlsBundle(names);
    const sockets = new Set<Duplex>();
    // The server exists before the FakeCaApi that answers its requests.
    const ref: { api?: FakeCaApi } = {};
    const mtls = opts.clientCa ? { ca: opts.clientCa, requestCert: true, rejectUnauthorized: true } : {};
    const server = createServer({ key: tls.keyPem, cert: tls.certPem, ...mtls }, (req, res) =>
      ref.api?.onRequest(req, res),
    );
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    ref.api = new FakeCaApi(server, sockets, `https://127.0.0.1:${port}`, tls.caCertPem);
    return ref.api;
  }

  /** Requests whose path starts with `prefix`. */
  to(prefix: string): ApiRequest[] {
    return this.received.filter((r) => r.path.startsWith(prefix));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const peer = 'getPeerCertificate' in req.socket ? (req.socket as TLSSocket).getPeerCertificate() : undefined;
      const clientCn = typeof peer?.subject?.CN === 'string' ? peer.subject.CN : undefined;
      const r: ApiRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        text,
        json,
        clientCn,
      };
      this.received.push(r);
      Promise.resolve(this.handler(r))
        .then((a) => {
          if (a) reply(res, a);
        })
        .catch((e: unknown) => reply(res, { status: 500, body: { errors: [String(e)] } }));
    });
  }
}

function reply(res: ServerResponse, a: ApiAnswer): void {
  const isText = typeof a.body === 'string';
  const body = a.body === undefined ? '' : isText ? (a.body as string) : JSON.stringify(a.body);
  res.writeHead(a.status, {
    ...a.headers,
    'content-type': isText ? (a.contentType ?? 'text/plain') : 'application/json',
  });
  res.end(body);
}

/** A root and an issuing intermediate that sign what a fake CA API is asked to sign. */
export class TestCa {
  private constructor(
    readonly root: CaSigner,
    /** PKCS#8 PEM of the root key (to sign a TLS server certificate under the root). */
    readonly rootKeyPem: string,
    readonly issuing: CaSigner,
  ) {}

  static async create(name: string): Promise<TestCa> {
    const root = await createRootCa({ subject: `CN=${name} Root` });
    const issuing = await createIntermediateCa(root.signer, { subject: `CN=${name} Issuing` });
    if (!root.keyPem) throw new Error('the test root key is not extractable');
    return new TestCa(root.signer, root.keyPem, issuing.signer);
  }

  /** Signs a PEM CSR for the names given (as the remote CA would); returns leaf PEM and serial. */
  async sign(
    csrPem: string,
    o: { commonName: string; sans: Partial<SubjectAltNames>; ttlSeconds?: number },
  ): Promise<{ certPem: string; serialHex: string }> {
    const csr = await parseCsr(csrPem);
    const leaf = await issueLeaf(this.issuing, {
      csr,
      commonName: o.commonName,
      sans: o.sans,
      ttlSeconds: o.ttlSeconds,
      publicUrl: 'https://ca.invalid',
      issuerId: 'test',
    });
    return { certPem: leaf.certPem, serialHex: leaf.serialHex };
  }
}
