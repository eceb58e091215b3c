import { Controller, Get, Headers, Param, Res, StreamableFile } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import { IntermediatesService } from './intermediates.service';

/** CA certificates are public and do not change under an id; the issuer-id form may (sub-CA files). */
const MAX_AGE_SECONDS = 3600;

@ApiTags('pki')
@Controller('.well-known/pki/ca')
export class CaCertificateController {
  constructor(private readonly intermediates: IntermediatesService) {}

  @Get(':id.crt')
  @Public()
  @ApiOperation({
    operationId: 'getCaCertificate',
    summary: 'A CA certificate (DER), unauthenticated: the AIA caIssuers URL of what it signs',
    description: '`{id}` is an issuer id (its top CA) or a CA id (`ica-...`, an intermediate).',
  })
  @ApiProduces('application/pkix-cert')
  @ApiOkResponse({ description: 'DER X.509 certificate', schema: { type: 'string', format: 'binary' } })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No such CA (or the issuer has none yet)' })
  async get(
    @Param('id') id: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<StreamableFile | undefined> {
    const { der, fingerprint } = await this.intermediates.certificateDer(id);
    const etag = `"${fingerprint}"`;
    res.setHeader('ETag', etag);
    res.setHeader('Cache-Control', `public, max-age=${MAX_AGE_SECONDS}`);
    if (ifNoneMatch?.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)) {
      res.status(304);
      return undefined;
    }
    return new StreamableFile(der, { type: 'application/pkix-cert', length: der.byteLength });
  }
}
