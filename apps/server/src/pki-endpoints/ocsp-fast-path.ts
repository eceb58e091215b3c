import type { IncomingMessage } from 'node:http';
import { Injectable } from '@nestjs/common';
import { HttpAdapterHost, ModuleRef } from '@nestjs/core';
import type { NextFunction, Response } from 'express';
import { AppConfig } from '../config/config.schema';
import type { CertctlRequest } from '../http/request-context';
import { requestIdMiddleware } from '../http/request-id.middleware';
import { MetricsService } from '../metrics/metrics.service';
import { getKey, MAX_RAW_KEY_BYTES, OcspHotCache, postKey, type HotOcspAnswer } from './ocsp-hot-cache';
import { OCSP_REQUEST_TYPE, writeOcspResponse } from './ocsp-http';
import { OcspRateLimiter } from './ocsp-rate-limiter';

const OCSP_PREFIX = '/.well-known/pki/ocsp/';
/** The route templates the HTTP metrics label OCSP requests with (as the controller's routes). */
const POST_ROUTE = '/.well-known/pki/ocsp/:id';
const GET_ROUTE = '/.well-known/pki/ocsp/:id/*request';

/**
 * The OCSP hot path: answers a request whose exact bytes (GET URL, or POST URL + body) are
 * in the in-process cache at the very front of the HTTP pipeline, with the headers the
 * controller sends. Everything else goes on through the full pipeline, which fills the
 * cache: misses, CORS requests (an Origin header), rate-limited deployments
 * (CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN, counted by the controller), bodies over 1 KiB or
 * sent chunked, other content types. A POST body read here is left on `req.body` for the
 * controller (the body parser sees a finished request and leaves it).
 *
 * It is mounted when this provider is constructed: Nest creates providers in
 * NestFactory.create, before createServerApp adds the request id middleware and before
 * app.init() mounts module middleware and routes, so it is the first Express handler. A hit
 * gets what is cheap of what it skips: its request id (X-Request-ID, the same middleware
 * function) and its sample in the HTTP duration metric under the controller's route
 * template. It gets no access log line (the pino-http line costs about a quarter of a hit).
 *
 * What a hit skips is safe to skip for these routes: they are public, never throttled by
 * the global limiter, and a key is only stored after the full pipeline answered exactly
 * these bytes with a cacheable response.
 */
@Injectable()
export class OcspFastPath {
  private readonly maxBody: number;
  private metrics?: MetricsService | null;

  constructor(
    private readonly hot: OcspHotCache,
    private readonly limiter: OcspRateLimiter,
    private readonly moduleRef: ModuleRef,
    adapterHost: HttpAdapterHost,
    config: AppConfig,
  ) {
    this.maxBody = Math.min(MAX_RAW_KEY_BYTES, config.http.maxBodyBytes);
    const adapter = adapterHost.httpAdapter as { use?: (handler: unknown) => void } | undefined;
    adapter?.use?.((req: CertctlRequest, res: Response, next: NextFunction) => {
      if (req.url.startsWith(OCSP_PREFIX)) this.use(req, res, next);
      else next();
    });
  }

  use(req: CertctlRequest, res: Response, next: NextFunction): void {
    if (!this.hot.usable || this.limiter.enabled || req.headers.origin !== undefined) return next();
    const method = req.method;
    if (method === 'GET' || method === 'HEAD') {
      const hit = this.hot.get(getKey(req.originalUrl));
      if (hit) this.serve(req, res, hit, true);
      else next();
      return;
    }
    if (
      method !== 'POST' ||
      req.headers['content-type'] !== OCSP_REQUEST_TYPE ||
      req.headers['transfer-encoding'] !== undefined
    ) {
      return next();
    }
    const declared = Number(req.headers['content-length']);
    if (!(declared > 0 && declared <= this.maxBody)) return next();
    readBody(req, (err, body) => {
      if (err || !body) return next(err);
      const key = postKey(req.originalUrl, body);
      const hit = key === undefined ? undefined : this.hot.get(key);
      if (hit) return this.serve(req, res, hit, false);
      // The body parser sees a finished request and leaves this in place.
      req.body = body;
      next();
    });
  }

  private serve(req: CertctlRequest, res: Response, answer: HotOcspAnswer, get: boolean): void {
    requestIdMiddleware(req, res, noop);
    this.hot.stats.fastPathHits++;
    writeOcspResponse(req, res, answer, get);
    const metrics = this.metricsService();
    if (metrics) {
      const seconds = req.startedAt ? Number(process.hrtime.bigint() - req.startedAt) / 1e9 : 0;
      metrics.httpDuration.observe(
        { method: req.method, route: get ? GET_ROUTE : POST_ROUTE, status: String(res.statusCode) },
        seconds,
      );
    }
  }

  private metricsService(): MetricsService | undefined {
    if (this.metrics === undefined) {
      try {
        this.metrics = this.moduleRef.get(MetricsService, { strict: false });
      } catch {
        this.metrics = null;
      }
    }
    return this.metrics ?? undefined;
  }
}

function noop(): void {}

/** Reads a small body (its size was checked against Content-Length) into one buffer. */
function readBody(req: IncomingMessage, done: (err: Error | undefined, body?: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (c: Buffer): void => {
    chunks.push(c);
    size += c.length;
  };
  const onEnd = (): void => {
    cleanup();
    done(undefined, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
  };
  const onError = (e: Error): void => {
    cleanup();
    done(e);
  };
  const cleanup = (): void => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
}
