import { Controller, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import {
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
  ApiServiceUnavailableResponse,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import type { Request, Response } from 'express';
import { Public } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import { CrlService } from './crl.service';
import { getKey, postKey } from './ocsp-hot-cache';
import { matches, maxAge, OCSP_RESPONSE_TYPE, writeOcspResponse } from './ocsp-http';
import { OcspRateLimiter } from './ocsp-rate-limiter';
import { OcspService, type OcspQuery } from './ocsp.service';
const CRL_TYPE = 'application/pkix-crl';
const BINARY = { schema: { type: 'string', format: 'binary' } };
const SERIAL_FORM = /^[0-9a-fA-F:]{1,128}$/;

/**
 * Revocation data of the CAs this server holds, unauthenticated (relying parties have no
 * credential): CRLs (RFC 5280) and OCSP (RFC 6960, with RFC 5019 caching on GET). The id
 * in the path is what certificates carry in their CRL distribution point and AIA: the
 * issuer id for its top CA, the CA id (`ica-...`) for an intermediate. Unknown ids answer
 * 404 with the JSON error body; everything about the OCSP request itself is answered with
 * an OCSPResponse (HTTP 200): malformedRequest for what cannot be read (including a GET
 * path that is neither base64 DER nor a hex serial), unauthorized for a CertID of another
 * issuer, tryLater/internalError when the responder cannot sign. The reason of an OCSP
 * error status is in the `X-Certctl-Ocsp-Problem` response header.
 */
@ApiTags('pki')
@Controller('.well-known/pki')
export class PkiController {
  constructor(
    private readonly crls: CrlService,
    private readonly ocsp: OcspService,
    private readonly limiter: OcspRateLimiter,
  ) {}

  @Get('crl/:id')
  @Public()
  @ApiOperation({
    operationId: 'getCrl',
    summary: 'DER CRL of an issuer (its top CA) or of an intermediate CA',
    description:
      'Cached; ETag + If-None-Match answers 304; Cache-Control max-age runs to nextUpdate. Revoked, unexpired ' +
      'certificates the CA signed, except those of short-lived profiles (max TTL under an hour). For an ' +
      'OpenSSL-script issuer: the CRL its crl_script makes (cached, remade after revocations and when due).',
  })
  @ApiProduces(CRL_TYPE)
  @ApiOkResponse({ description: 'The CRL (DER)', content: { [CRL_TYPE]: BINARY } })
  @ApiNotFoundResponse({
    type: ErrorResponseDto,
    description: 'No such issuer/CA, not a Local CA issuer, or an OpenSSL-script issuer without crl_script',
  })
  @ApiServiceUnavailableResponse({
    type: ErrorResponseDto,
    description: 'The CRL cannot be made now (signing failed, or the crl_script failed) and no valid one is cached',
  })
  async crl(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const crl = await this.crls.get(id);
    res.setHeader('ETag', crl.etag);
    res.setHeader('Cache-Control', `public, max-age=${maxAge(crl.nextUpdate)}, no-transform`);
    res.setHeader('Last-Modified', crl.thisUpdate.toUTCString());
    res.setHeader('Expires', crl.nextUpdate.toUTCString());
    if (matches(req.headers['if-none-match'], crl.etag)) {
      res.status(304).end();
      return;
    }
    res.status(200).type(CRL_TYPE).send(crl.der);
  }

  @Post('ocsp/:id')
  @Public()
  @SkipThrottle()
  @HttpCode(200)
  @ApiOperation({
    operationId: 'postOcsp',
    summary: 'OCSP request (RFC 6960), body application/ocsp-request',
    description:
      'A request with a nonce gets a freshly signed response echoing it; without one, the pre-signed response.',
  })
  @ApiProduces(OCSP_RESPONSE_TYPE)
  @ApiOkResponse({
    description: 'An OCSPResponse (DER), also for error statuses',
    content: { [OCSP_RESPONSE_TYPE]: BINARY },
  })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiTooManyRequestsResponse({ type: ErrorResponseDto })
  async ocspPost(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.limit(req, res);
    const body: unknown = req.body;
    const der = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
    writeOcspResponse(req, res, await this.ocsp.answer(id, { der }, postKey(req.originalUrl, der)), false);
  }

  @Get('ocsp/:id/*request')
  @Public()
  @SkipThrottle()
  @ApiOperation({
    operationId: 'getOcsp',
    summary: 'OCSP GET: the URL-encoded base64 DER request (RFC 6960 A.1), or a certificate serial in hex',
  })
  @ApiProduces(OCSP_RESPONSE_TYPE)
  @ApiOkResponse({
    description: 'An OCSPResponse (DER), also for error statuses',
    content: { [OCSP_RESPONSE_TYPE]: BINARY },
  })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiTooManyRequestsResponse({ type: ErrorResponseDto })
  async ocspGet(
    @Param('id') id: string,
    @Param('request') request: string | string[],
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.limit(req, res);
    const text = Array.isArray(request) ? request.join('/') : String(request);
    writeOcspResponse(req, res, await this.ocsp.answer(id, queryOf(text), getKey(req.originalUrl)), true);
  }

  private async limit(req: Request, res: Response): Promise<void> {
    if (!this.limiter.enabled) return;
    try {
      await this.limiter.consume(req.ip ?? req.socket.remoteAddress ?? 'unknown');
    } catch (e) {
      const wait = (e as { details?: { retry_after_seconds?: number } }).details?.retry_after_seconds;
      if (wait !== undefined) res.setHeader('Retry-After', String(wait));
      throw e;
    }
  }
}

/** The GET path after the CA id: a hex serial, or base64 (standard or URL-safe) DER. */
function queryOf(text: string): OcspQuery {
  if (SERIAL_FORM.test(text)) return { serialHex: text };
  // Some clients leave '+' unencoded and some proxies turn it into a space.
  const b64 = text.replace(/ /g, '+').replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 === 1) {
    return { malformed: 'the GET path is neither a base64 DER OCSP request nor a hexadecimal serial' };
  }
  return { der: Buffer.from(b64, 'base64') };
}
