import { Controller, Get, HttpException, Logger, Param, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { DomainError, ErrorCode } from '@certctl/domain';
import { Public } from '../auth/access-policy.decorator';
import { AppConfig } from '../config/config.schema';
import type { ScepLabelConfig } from '../enrollment/enrollment-config';
import { readRawBody } from '../enrollment/raw-body';
import { ScepRaService } from './scep-ra.service';
import { SCEP_MAX_MESSAGE_BYTES, ScepHttpError, ScepService } from './scep.service';

/** GetCACaps (RFC 8894 3.5.2): one capability per line. */
export const SCEP_CAPABILITIES = ['POSTPKIOperation', 'SHA-256', 'SHA-512', 'AES', 'SCEPStandard', 'Renewal'];
const PKI_MESSAGE_TYPE = 'application/x-pki-message';

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.Validation]: 400,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.RateLimited]: 429,
  [ErrorCode.Unavailable]: 503,
};

/**
 * SCEP (RFC 8894) at /scep (default label) and /scep/{label}, GET and POST, trailing slash
 * tolerated, dispatched on `?operation=`. Unauthenticated at the HTTP layer: the CSR's
 * challengePassword (or, for RenewalReq, the certificate being renewed) is the credential.
 * Errors are plain text, which is what SCEP clients log.
 */
@ApiExcludeController()
@Controller('scep')
export class ScepController {
  private readonly logger = new Logger(ScepController.name);
  private readonly labels: Map<string, ScepLabelConfig>;
  private readonly bodyLimit: number;

  constructor(
    private readonly config: AppConfig,
    private readonly ras: ScepRaService,
    private readonly scep: ScepService,
  ) {
    const cfg = config.enrollment.scep;
    this.labels = new Map(cfg.enabled ? cfg.labels.map((l) => [l.label, l]) : []);
    this.bodyLimit = Math.min(config.http.maxBodyBytes, SCEP_MAX_MESSAGE_BYTES);
  }

  @Get()
  @Public()
  getDefault(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.handle('', req, res);
  }

  @Post()
  @Public()
  postDefault(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.handle('', req, res);
  }

  @Get(':label')
  @Public()
  getLabel(@Param('label') label: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    return this.handle(label, req, res);
  }

  @Post(':label')
  @Public()
  postLabel(@Param('label') label: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    return this.handle(label, req, res);
  }

  private async handle(name: string, req: Request, res: Response): Promise<void> {
    try {
      const label = this.labels.get(name);
      if (!label) {
        throw new ScepHttpError(
          404,
          this.labels.size === 0
            ? 'SCEP is not enabled on this server (CERTCTL_SCEP_ENABLED)'
            : `no SCEP label ${JSON.stringify(name)} (configured: ${[...this.labels.keys()].map((l) => l || '(default)').join(', ')})`,
        );
      }
      const operation = queryValue(req, 'operation');
      switch (operation) {
        case 'GetCACaps':
          res
            .status(200)
            .type('text/plain')
            .send(`${SCEP_CAPABILITIES.join('\n')}\n`);
          return;
        case 'GetCACert': {
          const { body, contentType } = await this.ras.caCertResponse(label);
          res.status(200).type(contentType).send(body);
          return;
        }
        case 'PKIOperation': {
          const der = req.method === 'POST' ? await readRawBody(req, this.bodyLimit) : messageParam(req);
          if (der.length === 0) throw new ScepHttpError(400, 'PKIOperation needs a PKIMessage (POST body or message=)');
          const reply = await this.scep.pkiOperation(label, der, req.ip);
          res.status(200).type(PKI_MESSAGE_TYPE).send(reply);
          return;
        }
        case undefined:
          throw new ScepHttpError(400, 'missing ?operation= (GetCACaps, GetCACert or PKIOperation)');
        default:
          throw new ScepHttpError(
            400,
            `unsupported SCEP operation ${JSON.stringify(operation.slice(0, 64))} (GetCACaps, GetCACert or PKIOperation)`,
          );
      }
    } catch (e) {
      this.fail(res, e);
    }
  }

  private fail(res: Response, e: unknown): void {
    let status = 500;
    let message = 'internal error';
    if (e instanceof ScepHttpError) ({ status, message } = e);
    else if (e instanceof DomainError) {
      status = HTTP_STATUS[e.code] ?? 400;
      message = e.message;
    } else if (e instanceof HttpException) {
      status = e.getStatus();
      message = e.message;
    } else {
      this.logger.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    }
    if (status >= 500 && status !== 503) this.logger.error(`SCEP request failed: ${message}`);
    if (res.headersSent) {
      res.end();
      return;
    }
    if (status === 503) res.setHeader('Retry-After', '30');
    res.status(status).type('text/plain').send(`${message}\n`);
  }
}

function queryValue(req: Request, name: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[name];
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

/** GET PKIOperation: `message=` base64 in either alphabet ('+' may arrive as a space). */
function messageParam(req: Request): Buffer {
  const raw = queryValue(req, 'message');
  if (!raw) throw new ScepHttpError(400, 'PKIOperation over GET needs message=<base64 PKIMessage>');
  const b64 = raw
    .replace(/\s/g, (c) => (c === ' ' ? '+' : ''))
    .replace(/-/g, '+')
    .replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 === 1) {
    throw new ScepHttpError(400, 'message= is not base64');
  }
  if (b64.length > Math.ceil((SCEP_MAX_MESSAGE_BYTES * 4) / 3) + 4) {
    throw new ScepHttpError(413, `message= exceeds ${SCEP_MAX_MESSAGE_BYTES} bytes`);
  }
  return Buffer.from(b64, 'base64');
}
