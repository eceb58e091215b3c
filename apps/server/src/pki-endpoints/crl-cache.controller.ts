import { Controller, Get, Header } from '@nestjs/common';
import { ApiForbiddenResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { pkiUrls } from '@certctl/pki';
import { RequirePermission } from '../auth/access-policy.decorator';
import { urlIdOf } from '../ca/ca-store';
import { AppConfig, pkiPublicBaseUrl } from '../config/config.schema';
import { ErrorResponseDto } from '../http/error-response.dto';
import { CrlCacheListDto } from './dto/crl-cache.dto';
import { PkiRepository } from './pki.repository';

/** What the CRL cache holds: which CRLs are served, how fresh, and which wait to be remade. */
@ApiTags('crl')
@ApiForbiddenResponse({ type: ErrorResponseDto })
@Controller('api/v1/admin/crl')
export class CrlCacheController {
  constructor(
    private readonly repo: PkiRepository,
    private readonly config: AppConfig,
  ) {}

  @Get('cache')
  @RequirePermission('crl.admin')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    operationId: 'getCrlCache',
    summary: 'The cached CRLs: number, this/next update, size, ETag, stale, and the URL each is served at',
  })
  @ApiOkResponse({ type: CrlCacheListDto })
  async list(): Promise<CrlCacheListDto> {
    const base = pkiPublicBaseUrl(this.config);
    const rows = await this.repo.crlCacheOverview();
    return {
      data: rows.map((r) => {
        const urlId =
          r.ca_id === null ? r.issuer_id : urlIdOf({ id: r.ca_id, parent_id: r.parent_id, issuer_id: r.issuer_id });
        return {
          url_id: urlId,
          issuer_id: r.issuer_id,
          ca_id: r.ca_id,
          source: r.source,
          crl_number: r.crl_number,
          this_update: r.this_update.toISOString(),
          next_update: r.next_update?.toISOString() ?? null,
          size_bytes: Number(r.size_bytes),
          etag: r.etag,
          stale: r.stale,
          updated_at: r.updated_at.toISOString(),
          crl_url: pkiUrls(base, urlId).crl,
        };
      }),
    };
  }
}
