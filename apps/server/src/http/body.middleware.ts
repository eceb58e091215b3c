import { createHash } from 'node:crypto';
import {
  BadRequestException,
  HttpException,
  HttpStatus,
  Injectable,
  NestMiddleware,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import bodyParser from 'body-parser';
import type { NextFunction, RequestHandler, Response } from 'express';
import { AppConfig } from '../config/config.schema';
import type { CertctlRequest } from './request-context';

const JSON_TYPES = ['application/json', 'application/*+json'];
const OCSP_PATH = '/.well-known/pki/ocsp/';
const OCSP_REQUEST_TYPE = 'application/ocsp-request';

function hasBody(req: CertctlRequest): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

/**
 * Body size limit and JSON parsing. Oversized bodies are refused from Content-Length
 * before a byte is read; the REST API takes JSON only; the raw body's SHA-256 prefix is
 * kept for the API audit log. Protocol endpoints (EST, SCEP, OCSP) parse their own
 * bodies under the same limit.
 */
@Injectable()
export class BodyMiddleware implements NestMiddleware {
  private readonly json: RequestHandler;
  /** OCSP POST bodies (RFC 6960 A.1), raw DER under the same limit. */
  private readonly ocsp: RequestHandler;
  private readonly limit: number;

  constructor(config: AppConfig) {
    this.limit = config.http.maxBodyBytes;
    this.json = bodyParser.json({
      limit: this.limit,
      strict: true,
      type: JSON_TYPES,
      // Postgres text cannot hold NUL: refuse it at the door as a 400, not a 500 later.
      reviver: (_key: string, value: unknown) => {
        if (typeof value === 'string' && value.includes('\u0000')) {
          throw new SyntaxError('strings may not contain NUL (\\u0000) characters');
        }
        return value;
      },
      verify: (req, _res, buf) => {
        (req as CertctlRequest).bodySha256 = createHash('sha256').update(buf).digest('hex').slice(0, 16);
      },
    }) as RequestHandler;
    this.ocsp = bodyParser.raw({ limit: this.limit, type: OCSP_REQUEST_TYPE }) as RequestHandler;
  }

  async use(req: CertctlRequest, res: Response, next: NextFunction): Promise<void> {
    if (req.originalUrl.includes('%00') || req.originalUrl.includes('\u0000')) {
      throw new BadRequestException('the URL may not contain NUL (%00) characters');
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.limit) {
      throw new HttpException(
        `request body of ${declared} bytes exceeds the ${this.limit} byte limit (CERTCTL_MAX_BODY_SIZE)`,
        HttpStatus.PAYLOAD_TOO_LARGE,
      );
    }
    if (req.method === 'POST' && req.originalUrl.startsWith(OCSP_PATH) && hasBody(req)) {
      if (!req.is(OCSP_REQUEST_TYPE)) {
        throw new UnsupportedMediaTypeException(
          `OCSP request body must be ${OCSP_REQUEST_TYPE}, got ${req.headers['content-type'] ?? 'no Content-Type'}`,
        );
      }
      await new Promise<void>((resolve, reject) =>
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- body-parser passes Errors with type/status
        this.ocsp(req, res, (err?: unknown) => (err ? reject(err) : resolve())),
      );
      return next();
    }
    if (!req.originalUrl.startsWith('/api/') || !hasBody(req)) return next();
    if (!req.is(JSON_TYPES)) {
      throw new UnsupportedMediaTypeException(
        `request body must be application/json, got ${req.headers['content-type'] ?? 'no Content-Type'}`,
      );
    }
    await new Promise<void>((resolve, reject) =>
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- body-parser passes Errors with type/status
      this.json(req, res, (err?: unknown) => (err ? reject(err) : resolve())),
    );
    next();
  }
}
