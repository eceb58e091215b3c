import { Controller, Get, Head, HttpException, Logger, Param, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { DomainError, ErrorCode } from '@certctl/domain';
import { Public } from '../auth/access-policy.decorator';
import { AppConfig } from '../config/config.schema';
import { readRawBody } from '../enrollment/raw-body';
import { ID_FORM } from './acme-jws';
import { AcmeNonces } from './acme-nonces';
import { AcmeProblem, malformed } from './acme-problem';
import { AcmeService, type AcmeContext, type AcmeReply, type AcmeRequest } from './acme.service';

const JOSE = 'application/jose+json';

/**
 * ACME (RFC 8555) under `/acme/` (default profile) and `/acme/profile/{id}/`. No API key:
 * each request authenticates with its JWS (AcmeService.authenticate). Every answer,
 * errors included, carries a fresh Replay-Nonce and the directory's index Link; errors are
 * application/problem+json. Bodies are read raw: the global JSON parser serves /api only.
 */
@ApiExcludeController()
@Controller('acme')
export class AcmeController {
  private readonly logger = new Logger('ACME');

  constructor(
    private readonly config: AppConfig,
    private readonly acme: AcmeService,
    private readonly nonces: AcmeNonces,
  ) {}

  @Get(['directory', 'profile/:profile/directory'])
  @Public()
  async directory(
    @Param('profile') profile: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.run(req, res, profile, false, (ctx) => Promise.resolve({ status: 200, body: this.acme.directory(ctx) }));
  }

  @Head(['new-nonce', 'profile/:profile/new-nonce'])
  @Public()
  async headNonce(
    @Param('profile') profile: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.run(req, res, profile, true, () => Promise.resolve({ status: 200 }));
  }

  @Get(['new-nonce', 'profile/:profile/new-nonce'])
  @Public()
  async getNonce(
    @Param('profile') profile: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.run(req, res, profile, true, () => Promise.resolve({ status: 204 }));
  }

  /** RFC 9773 renewal information: unauthenticated GET, like the directory. */
  @Get(['renewal-info/:certid', 'profile/:profile/renewal-info/:certid'])
  @Public()
  async renewalInfo(
    @Param('profile') profile: string | undefined,
    @Param('certid') certId: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.run(req, res, profile, false, () => this.acme.renewalInfo(certId));
  }

  @Post(['new-account', 'profile/:profile/new-account'])
  @Public()
  async newAccount(
    @Param('profile') profile: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.signed(req, res, profile, 'jwk', (ctx, r, url) => this.acme.newAccount(ctx, r, url));
  }

  @Post(['account/:id', 'profile/:profile/account/:id'])
  @Public()
  async account(
    @Param('profile') profile: string | undefined,
    @Param('id') id: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.signed(req, res, profile, 'kid', (ctx, r) => this.acme.account(ctx, r, id));
  }

  @Post(['key-change', 'profile/:profile/key-change'])
  @Public()
  async keyChange(
    @Param('profile') profile: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.signed(req, res, profile, 'kid', (ctx, r, url) => this.acme.keyChange(ctx, r, url));
  }

  @Post(['new-order', 'profile/:profile/new-order'])
  @Public()
  async newOrder(
    @Param('profile') profile: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.signed(req, res, profile, 'kid', (ctx, r) => this.acme.newOrder(ctx, r));
  }

  @Post(['order/:id/finalize', 'profile/:profile/order/:id/finalize'])
  @Public()
  async finalize(
    @Param('profile') profile: string | undefined,
    @Param('id') id: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.signed(req, res, profile, 'kid', (ctx, r) => this.acme.finalize(ctx, r, id));
  }

  @Post(['order/:id', 'profile/:profile/order/:id'])
  @Public()
  async order(
    @Param('profile') profile: string | undefined,
    @Param('id') id: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.signed(req, res, profile, 'kid', (ctx, r) => this.acme.order(ctx, r, id));
  }

  @Post(['authz/:id', 'profile/:profile/authz/:id'])
  @Public()
  async authz(
    @Param('profile') profile: string | undefined,
    @Param('id') id: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.signed(req, res, profile, 'kid', (ctx, r) => this.acme.authz(ctx, r, id));
  }

  @Post(['challenge/:id', 'profile/:profile/challenge/:id'])
  @Public()
  async challenge(
    @Param('profile') profile: string | undefined,
    @Param('id') id: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.signed(req, res, profile, 'kid', (ctx, r) => this.acme.challenge(ctx, r, id));
  }

  @Post(['cert/:id', 'profile/:profile/cert/:id'])
  @Public()
  async cert(
    @Param('profile') profile: string | undefined,
    @Param('id') id: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.signed(req, res, profile, 'kid', (ctx, r) => this.acme.certificate(ctx, r, id));
  }

  /** The alternate chain (RFC 8555 7.4.2), named by the default download's Link rel="alternate". */
  @Post(['cert/:id/:alt', 'profile/:profile/cert/:id/:alt'])
  @Public()
  async certAlternate(
    @Param('profile') profile: string | undefined,
    @Param('id') id: string,
    @Param('alt') alt: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.signed(req, res, profile, 'kid', (ctx, r) => {
      if (alt !== '1') throw new AcmeProblem(404, 'malformed', `order ${id} has no chain ${JSON.stringify(alt)}`);
      return this.acme.certificate(ctx, r, id, true);
    });
  }

  @Post(['revoke-cert', 'profile/:profile/revoke-cert'])
  @Public()
  async revoke(
    @Param('profile') profile: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.signed(req, res, profile, 'either', (_ctx, r) => this.acme.revoke(r));
  }

  /** Scheme and authority our URLs use: CERTCTL_PUBLIC_URL, else the Host this request came to. */
  private base(req: Request): string {
    const pub = this.config.server.publicUrl;
    if (pub) return new URL(pub).origin;
    return `https://${req.headers.host ?? `localhost:${this.config.server.port}`}`;
  }

  private signed(
    req: Request,
    res: Response,
    profile: string | undefined,
    keyRule: 'jwk' | 'kid' | 'either',
    fn: (ctx: AcmeContext, r: AcmeRequest, url: string) => Promise<AcmeReply>,
  ): Promise<void> {
    return this.run(req, res, profile, true, async (ctx) => {
      if (!req.is(JOSE)) {
        throw malformed(
          `the request body must be ${JOSE}, got ${req.headers['content-type'] ?? 'no Content-Type'}`,
          415,
        );
      }
      const body = await readRawBody(req, this.config.http.maxBodyBytes);
      const url = `${ctx.base}${req.originalUrl}`;
      const r = await this.acme.authenticate(ctx, body, url, keyRule);
      return fn(ctx, r, url);
    });
  }

  private async run(
    req: Request,
    res: Response,
    profile: string | undefined,
    noStore: boolean,
    fn: (ctx: AcmeContext) => Promise<AcmeReply>,
  ): Promise<void> {
    let reply: AcmeReply | undefined;
    let problem: AcmeProblem | undefined;
    const base = this.base(req);
    let index = `${base}/acme/directory`;
    try {
      if (!this.config.acme.enabled) throw new AcmeProblem(404, 'malformed', 'the ACME server is not enabled here');
      for (const v of Object.values(req.params as Record<string, string>)) {
        if (!ID_FORM.test(v)) throw new AcmeProblem(404, 'malformed', `no ACME resource ${JSON.stringify(v)}`);
      }
      const ctx = await this.acme.profileContext(base, profile);
      index = this.acme.url(ctx, '/directory');
      reply = await fn(ctx);
    } catch (e) {
      problem = this.toProblem(e, req);
    }
    try {
      res.setHeader('Replay-Nonce', await this.nonces.issue());
    } catch (e) {
      this.logger.error(`ACME cannot issue a nonce: ${(e as Error).message}`);
      problem = new AcmeProblem(503, 'serverInternal', 'the nonce store is unavailable; retry later');
      reply = undefined;
    }
    res.setHeader('Link', [`<${index}>;rel="index"`, ...(problem ? [] : (reply?.links ?? []))]);
    if (noStore) res.setHeader('Cache-Control', 'no-store');
    if (problem || !reply) {
      const p = problem as AcmeProblem;
      for (const [k, v] of Object.entries(p.headers)) res.setHeader(k, v);
      res.status(p.status).type('application/problem+json').send(JSON.stringify(p.body()));
      return;
    }
    if (reply.location) res.setHeader('Location', reply.location);
    if (reply.retryAfter !== undefined) res.setHeader('Retry-After', String(reply.retryAfter));
    if (reply.pem !== undefined) {
      res.status(reply.status).type('application/pem-certificate-chain').send(reply.pem);
    } else if (reply.body) {
      res.status(reply.status).type('application/json').send(JSON.stringify(reply.body));
    } else {
      res.status(reply.status).end();
    }
  }

  private toProblem(e: unknown, req: Request): AcmeProblem {
    if (e instanceof AcmeProblem) return e;
    if (e instanceof DomainError) {
      if (e.code === ErrorCode.Validation) return malformed(e.message);
      if (e.code === ErrorCode.Conflict) return new AcmeProblem(409, 'malformed', e.message);
      if (e.code === ErrorCode.NotFound) return new AcmeProblem(404, 'malformed', e.message);
      if (e.code === ErrorCode.RateLimited) return new AcmeProblem(429, 'rateLimited', e.message);
      if (e.code === ErrorCode.Unavailable)
        return new AcmeProblem(503, 'serverInternal', e.message, {}, { 'Retry-After': '30' });
      return new AcmeProblem(403, 'unauthorized', e.message);
    }
    if (e instanceof HttpException) {
      const status = e.getStatus();
      return new AcmeProblem(status >= 500 ? 503 : status, 'malformed', e.message);
    }
    this.logger.error(`ACME ${req.method} ${req.path} failed: ${(e as Error).stack ?? String(e)}`);
    return new AcmeProblem(500, 'serverInternal', 'the server failed to process this request (see its log)');
  }
}
