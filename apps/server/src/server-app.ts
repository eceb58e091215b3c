import type { Server } from 'node:https';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import type { AppConfig } from './config/config.schema';
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
  const server = app.getHttpServer() as Server;
  server.headersTimeout = 15_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
}
