import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import type { AppConfig } from './config/config.schema';
import { errorBody } from './http/error-body';
import { HttpExceptionFilter } from './http/http-exception.filter';
import { requestIdMiddleware } from './http/request-id.middleware';
import { StrictValidationPipe } from './http/validation.pipe';
import { setupSwagger } from './openapi/openapi';
import { servesApi } from './role/process-role';
import { workerHttpGate } from './role/worker-http-gate';
import { serverTlsOptions } from './tls/server-tls';

export interface ServerTlsOptions {
  key: string;
  cert: string;
}

/**
 * Builds the server app. The same function serves `main.ts`, the e2e tests and the
 * OpenAPI export, so what is tested is what runs.
 */
export async function createServerApp(
  config: AppConfig,
  tls: ServerTlsOptions | undefined,
  opts: { preview?: boolean; logger?: false; swagger?: boolean } = {},
): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    httpsOptions: tls ? serverTlsOptions(config, tls) : undefined,
    bodyParser: false,
    bufferLogs: opts.logger !== false,
    logger: opts.logger,
    preview: opts.preview,
    abortOnError: false,
  });
  if (!opts.preview && opts.logger !== false) app.useLogger(app.get(Logger));
  configureApp(app, config, opts.swagger ?? true);
  return app;
}

export function configureApp(app: NestExpressApplication, config: AppConfig, swagger = true): void {
  const express = app.getHttpAdapter().getInstance();
  express.disable('x-powered-by');
  express.set('etag', 'weak');
  express.set('trust proxy', config.http.trustedProxies.length ? config.http.trustedProxies : false);
  // First in the pipeline: the request id every later log line and error carries.
  app.use(requestIdMiddleware);
  // Worker replicas answer probes and metrics only (before Swagger and every controller).
  if (!servesApi(config.role)) app.use(workerHttpGate);
  app.useGlobalFilters(new HttpExceptionFilter());
  app.useGlobalPipes(new StrictValidationPipe());
  if (swagger) setupSwagger(app);
}

/** Slow-client protection for the HTTPS listener. */
export function hardenServer(app: NestExpressApplication): void {
  limitSlowClients(app.getHttpServer());
}

function limitSlowClients(server: Server | HttpServer): void {
  server.headersTimeout = 15_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
}

/** All the plain-HTTP listener (CERTCTL_PKI_HTTP_PORT) serves: CRLs, OCSP, CA certificates. */
export const PKI_HTTP_PREFIX = '/.well-known/pki/';
const PKI_HTTP_METHODS = ['GET', 'HEAD', 'POST'];
/** Request headers of CRL/OCSP clients are small; the HTTPS listener keeps Node's 16 KiB. */
const PKI_HTTP_MAX_HEADER_BYTES = 8 * 1024;

/**
 * Why the plain-HTTP listener refuses a request, or undefined to hand it to the app. Only
 * origin-form targets under /.well-known/pki/ pass, without dot segments (even encoded), so
 * no route outside the PKI endpoints can be reached through this port.
 */
export function pkiHttpRefusal(
  method: string | undefined,
  url: string | undefined,
): { status: 404 | 405; message: string } | undefined {
  const path = (url ?? '').split('?')[0];
  const inside =
    path.startsWith(PKI_HTTP_PREFIX) &&
    path.split('/').every((segment) => {
      try {
        const s = decodeURIComponent(segment);
        return s !== '.' && s !== '..';
      } catch {
        return false;
      }
    });
  if (!inside) {
    return {
      status: 404,
      message:
        'this port serves only /.well-known/pki/* (CRLs, OCSP, CA certificates) over plain HTTP; use the HTTPS listener for everything else',
    };
  }
  if (!PKI_HTTP_METHODS.includes(method ?? '')) {
    return { status: 405, message: `this port answers only ${PKI_HTTP_METHODS.join(', ')} on /.well-known/pki/*` };
  }
  return undefined;
}

/**
 * The plain-HTTP listener for relying parties (CERTCTL_PKI_HTTP_PORT): the same Express app
 * as the HTTPS listener (same OCSP fast path, caches, metrics), behind a filter that lets
 * only the PKI distribution endpoints through. They serve signed objects, so HTTP loses
 * nothing, and it is what CRL/OCSP clients expect (an HTTPS OCSP URL is circular). Not
 * listening yet: the caller listens and closes it.
 */
export function createPkiHttpServer(app: NestExpressApplication): HttpServer {
  const handle = app.getHttpAdapter().getInstance() as (req: IncomingMessage, res: ServerResponse) => void;
  const server = createServer({ maxHeaderSize: PKI_HTTP_MAX_HEADER_BYTES }, (req, res) => {
    const refusal = pkiHttpRefusal(req.method, req.url);
    if (!refusal) return handle(req, res);
    const requestId = randomUUID();
    const body = JSON.stringify(errorBody(refusal.status, refusal.message, requestId));
    res.statusCode = refusal.status;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.setHeader('X-Request-ID', requestId);
    if (refusal.status === 405) res.setHeader('Allow', PKI_HTTP_METHODS.join(', '));
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  limitSlowClients(server);
  server.maxHeadersCount = 100;
  return server;
}
