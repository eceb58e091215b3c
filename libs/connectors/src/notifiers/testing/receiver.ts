import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

/** One request as a test receiver saw it. */
export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  raw: Buffer;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: unknown;
}

export interface Answer {
  status: number;
  body?: unknown;
}

/** Decides the answer to a request; `undefined` means never answer (a hung receiver). */
export type Handler = (req: Received) => Answer | undefined;

/**
 * An HTTP receiver on 127.0.0.1 with an ephemeral port, standing in for a webhook endpoint or
 * a provider API in tests. It records every request; its handler checks the request shape and
 * answers as the provider would (or not at all).
 */
export class TestReceiver {
  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly received: Received[],
    private readonly sockets: Set<Socket>,
  ) {}

  /** With `tls` (a key and certificate, PEM) the receiver speaks HTTPS. */
  static async start(handler: Handler, tls?: { key: string; cert: string }): Promise<TestReceiver> {
    const received: Received[] = [];
    const sockets = new Set<Socket>();
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        let json: unknown;
        try {
          json = JSON.parse(raw.toString('utf8'));
        } catch {
          json = undefined;
        }
        const r: Received = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw, json };
        received.push(r);
        const answer = handler(r);
        if (answer) reply(res, answer);
      });
    };
    const server: Server = tls ? createTlsServer(tls, onRequest) : createServer(onRequest);
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new TestReceiver(server, `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, received, sockets);
  }

  /** The last request received (fails the test when there is none). */
  last(): Received {
    const r = this.received.at(-1);
    if (!r) throw new Error('the receiver got no request');
    return r;
  }

  async stop(): Promise<void> {
    // Hung exchanges keep their sockets open: close them so the server can stop.
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function reply(res: ServerResponse, a: Answer): void {
  const body = a.body === undefined ? '' : typeof a.body === 'string' ? a.body : JSON.stringify(a.body);
  res.writeHead(a.status, { 'content-type': typeof a.body === 'string' ? 'text/plain' : 'application/json' });
  res.end(body);
}
