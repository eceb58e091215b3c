import { Injectable, NestMiddleware } from '@nestjs/common';
import cors from 'cors';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AppConfig } from '../config/config.schema';

/**
 * CORS, deny by default: with CERTCTL_CORS_ORIGINS empty no CORS header is ever sent, so
 * browsers only let same-origin pages read responses. Listed origins get credentials-less
 * CORS with the Authorization header allowed.
 */
@Injectable()
export class CorsMiddleware implements NestMiddleware {
  private readonly handler?: RequestHandler;

  constructor(config: AppConfig) {
    const allowed = new Set(config.http.corsOrigins);
    if (allowed.size > 0) {
      this.handler = cors({
        origin: (origin, cb) => cb(null, origin !== undefined && allowed.has(origin)),
        methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
        allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-ID', 'If-None-Match'],
        exposedHeaders: ['X-Request-ID', 'ETag', 'Retry-After'],
        maxAge: 600,
      }) as RequestHandler;
    }
  }

  use(req: Request, res: Response, next: NextFunction): void {
    if (!this.handler) return next();
    this.handler(req, res, next);
  }
}
