import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DomainError, ErrorCode } from '@certctl/domain';
import type { Http01Publisher } from '@certctl/connectors';
import { AppConfig } from '../../config/config.schema';
import { RedisService } from '../../redis/redis.service';

const PATH = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]{1,256})$/;

/**
 * The built-in http-01 responder of ACME issuers. Key authorizations live in Redis, so the
 * replica the CA happens to reach answers for an order another replica placed. Listens on
 * CERTCTL_ACME_CLIENT_HTTP01_ADDRESS (plain HTTP, as RFC 8555 section 8.3 requires) and
 * serves nothing but `/.well-known/acme-challenge/<token>`.
 */
@Injectable()
export class Http01Responder implements Http01Publisher, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(Http01Responder.name);
  private server?: Server;

  constructor(
    private readonly config: AppConfig,
    private readonly redis: RedisService,
  ) {}

  get listenAddress(): string | undefined {
    const a = this.config.acmeClient.http01;
    return a ? `${a.host}:${a.port}` : undefined;
  }

  async publish(token: string, keyAuthorization: string): Promise<void> {
    try {
      await this.redis.client.set(
        this.key(token),
        keyAuthorization,
        'EX',
        this.config.acmeClient.http01TokenTtlSeconds,
      );
    } catch (e) {
      throw new DomainError(
        ErrorCode.Unavailable,
        `ACME http-01: cannot publish the challenge: ${(e as Error).message}`,
      );
    }
  }

  async withdraw(token: string): Promise<void> {
    await this.redis.client.del(this.key(token));
  }

  async onApplicationBootstrap(): Promise<void> {
    const a = this.config.acmeClient.http01;
    if (!a) return;
    const server = createServer((req, res) => void this.answer(req, res));
    server.requestTimeout = 10_000;
    server.headersTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(a.port, a.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const bound = server.address() as AddressInfo;
    this.logger.log(`ACME http-01 responder listening on ${bound.address}:${bound.port}`);
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const token = PATH.exec((req.url ?? '').split('?')[0])?.[1];
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !token) return end(res, 404, 'not found\n');
    try {
      const value = await this.redis.client.get(this.key(token));
      if (value === null) return end(res, 404, 'no such challenge\n');
      end(res, 200, value, req.method === 'HEAD');
    } catch (e) {
      this.logger.warn(`ACME http-01 responder: ${(e as Error).message}`);
      end(res, 503, 'challenge store unavailable\n');
    }
  }

  private key(token: string): string {
    return this.redis.key('acme-client', 'http01', token);
  }
}

function end(res: ServerResponse, status: number, body: string, headOnly = false): void {
  res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(headOnly ? undefined : body);
}
