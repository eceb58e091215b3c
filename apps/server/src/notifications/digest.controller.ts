import { Controller, Get, Header, HttpCode, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import { DigestService } from './digest.service';
import { DigestQueryDto, DigestSentDto } from './dto/digest.dto';

@ApiTags('notifications')
@ApiBadRequestResponse({ type: ErrorResponseDto })
@Controller('api/v1/digest')
export class DigestController {
  constructor(private readonly digest: DigestService) {}

  @Get('preview')
  @RequirePermission('digest.read')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    operationId: 'previewDigest',
    summary:
      'The digest as HTML: certificates expiring within `days` grouped by urgency, failed jobs, dead notifications, pending approvals',
  })
  @ApiProduces('text/html')
  @ApiOkResponse({ description: 'An HTML page', content: { 'text/html': { schema: { type: 'string' } } } })
  async preview(@Query() q: DigestQueryDto, @Res({ passthrough: true }) res: Response): Promise<string> {
    const html = await this.digest.preview(q.days);
    // Set here, not with @Header: a rejected query must keep its JSON error body's type.
    res.type('text/html; charset=utf-8');
    return html;
  }

  @Post('send')
  @HttpCode(200)
  @RequirePermission('digest.send')
  @ApiOperation({
    operationId: 'sendDigest',
    summary: 'Email the digest now (to CERTCTL_DIGEST_RECIPIENTS, else the certificate owners)',
  })
  @ApiOkResponse({ type: DigestSentDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'Email is not configured, or nobody to send to' })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto, description: 'The SMTP server did not take the message' })
  send(@CurrentPrincipal() p: Principal, @Query() q: DigestQueryDto): Promise<DigestSentDto> {
    return this.digest.send(p, q.days);
  }
}
