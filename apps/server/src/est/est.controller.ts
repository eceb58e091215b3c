import { Controller, Get, HttpException, Logger, Param, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { DomainError, ErrorCode, forbidden } from '@certctl/domain';
import { zeroize } from '@certctl/pki';
import { Public } from '../auth/access-policy.decorator';
import { EnrollmentService, type PresentedCertificate } from '../enrollment/enrollment.service';
import { EST_REALM, EstAuth, EstUnauthorized, peerCertificate } from './est-auth';
import { EstLabels } from './est-labels';
import { EstService } from './est.service';

const PKCS7 = 'application/pkcs7-mime';
const CERTS_ONLY = 'application/pkcs7-mime; smime-type=certs-only';
const CSRATTRS = 'application/csrattrs';

/**
 * EST (RFC 7030) under `/.well-known/est/` (the default label) and
 * `/.well-known/est/<label>/`. Unauthenticated at the HTTP layer (no API key): /cacerts
 * and /csrattrs are anonymous, the enrollment operations authenticate per label (EstAuth).
 * Bodies are read raw (base64 PKCS#10), answers are base64 DER; errors are the JSON error
 * body with a 4xx naming the problem (503 when something the label depends on is down).
 */
@ApiExcludeController()
@Controller('.well-known/est')
export class EstController {
  private readonly logger = new Logger('EST');

  constructor(
    private readonly labels: EstLabels,
    private readonly auth: EstAuth,
    private readonly est: EstService,
    private readonly enrollment: EnrollmentService,
  ) {}

  @Get(['cacerts', ':label/cacerts'])
  @Public()
  async cacerts(@Param('label') name: string | undefined, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.run(req, res, async () => {
      const body = await this.est.cacerts(this.labels.get(name));
      sendBase64(res, 200, PKCS7, body);
    });
  }

  @Get(['csrattrs', ':label/csrattrs'])
  @Public()
  async csrattrs(@Param('label') name: string | undefined, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.run(req, res, async () => {
      const body = await this.est.csrattrs(this.labels.get(name));
      sendBase64(res, 200, CSRATTRS, body);
    });
  }

  @Post(['simpleenroll', ':label/simpleenroll'])
  @Public()
  async simpleenroll(
    @Param('label') name: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.run(req, res, async () => {
      const label = this.labels.get(name);
      const identity = await this.auth.authenticate(req, label);
      const csr = await this.est.readCsr(req, label, identity);
      this.answer(res, await this.est.enroll({ label, identity, csr }, req));
    });
  }

  /**
   * Re-enrollment (RFC 7030 4.2.2): the TLS client certificate must be a live certificate
   * this server issued; it is what gets renewed, and it stands in for the label's client
   * certificate credential (Basic is still required where the label asks for it).
   */
  @Post(['simplereenroll', ':label/simplereenroll'])
  @Public()
  async simplereenroll(
    @Param('label') name: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.run(req, res, async () => {
      const label = this.labels.get(name);
      const peer = peerCertificate(req);
      if (!peer) {
        throw new EstUnauthorized(
          'simplereenroll requires the TLS client certificate of the certificate being renewed',
        );
      }
      const identity = await this.auth.authenticate(req, label, true);
      const presented = await this.enrollment.presented(peer.leaf.raw);
      const refusal = reenrollRefusal(presented);
      if (refusal !== undefined || !presented) {
        const reason = `simplereenroll refused: ${refusal ?? 'unknown certificate'}`;
        await this.est.reject(label, identity.actorId, reason, req);
        throw forbidden(reason);
      }
      const csr = await this.est.readCsr(req, label, identity);
      const renew = { certificateId: presented.certificateId, allowNameChange: label.config.allowNameChange };
      this.answer(res, await this.est.enroll({ label, identity, csr }, req, renew));
    });
  }

  @Post(['serverkeygen', ':label/serverkeygen'])
  @Public()
  async serverkeygen(
    @Param('label') name: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.run(req, res, async () => {
      const label = this.labels.get(name);
      const identity = await this.auth.authenticate(req, label);
      const csr = await this.est.readCsr(req, label, identity);
      const out = await this.est.serverkeygen({ label, identity, csr }, req);
      // The key lives in these buffers only: overwrite them once the bytes are handed to the socket.
      const wipe = () => zeroize(...out.secrets);
      res.once('finish', wipe);
      res.once('close', wipe);
      res.writeHead(200, {
        'Content-Type': out.contentType,
        'Content-Length': String(out.body.length),
        'Cache-Control': 'no-store',
      });
      res.end(out.body);
    });
  }

  private answer(res: Response, result: Awaited<ReturnType<EstService['enroll']>>): void {
    if (result.kind === 'pending') {
      res.setHeader('Retry-After', String(result.retryAfterSeconds));
      res.setHeader('Cache-Control', 'no-store');
      res.status(202).type('text/plain').send(`${result.message}\n`);
      return;
    }
    res.setHeader('Cache-Control', 'no-store');
    sendBase64(res, 200, CERTS_ONLY, result.body);
  }

  /**
   * Runs one operation: 401 carries the Basic
   * challenge, 429 its Retry-After, and an unexpected failure (a dependency down) is a 503
   * with a logged cause rather than a 500: EST clients retry on 503.
   */
  private async run(req: Request, res: Response, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      if (e instanceof EstUnauthorized)
        res.setHeader('WWW-Authenticate', `Basic realm="${EST_REALM}", charset="UTF-8"`);
      if (e instanceof DomainError && e.code === ErrorCode.RateLimited) {
        const wait = (e.details as { retry_after_seconds?: number } | undefined)?.retry_after_seconds;
        if (wait !== undefined) res.setHeader('Retry-After', String(wait));
      }
      if (e instanceof DomainError || e instanceof HttpException) throw e;
      this.logger.error(`EST ${req.method} ${req.path} failed: ${(e as Error).stack ?? String(e)}`);
      throw new DomainError(
        ErrorCode.Unavailable,
        'EST cannot process this request right now (see the server log); retry later',
      );
    }
  }
}

/** Why a presented certificate cannot be re-enrolled (undefined: it can). */
function reenrollRefusal(p: PresentedCertificate | undefined): string | undefined {
  if (!p) return 'the TLS client certificate was not issued by this server';
  if (p.revoked) return `the TLS client certificate (certificate ${p.certificateId}) is revoked`;
  if (p.archived) return `certificate ${p.certificateId} is archived`;
  if (p.notAfter.getTime() <= Date.now()) return `certificate ${p.certificateId} has expired`;
  return undefined;
}

function sendBase64(res: Response, status: number, contentType: string, body: string): void {
  const bytes = Buffer.from(body, 'ascii');
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Transfer-Encoding': 'base64',
    'Content-Length': String(bytes.length),
  });
  res.end(bytes);
}
