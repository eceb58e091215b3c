import { createHash, X509Certificate } from 'node:crypto';
import { Controller, Get, Header } from '@nestjs/common';
import { ApiForbiddenResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequirePermission } from '../auth/access-policy.decorator';
import { AppConfig } from '../config/config.schema';
import type { ScepLabelConfig } from '../enrollment/enrollment-config';
import { ErrorResponseDto } from '../http/error-response.dto';
import { ScepProfileListDto, type ScepProfileDto } from './dto/scep-profile.dto';
import { ScepRaService } from './scep-ra.service';

/** The SCEP labels this server serves, for operators: paths, issuers, challenge kinds, RA certificates. */
@ApiTags('scep')
@ApiForbiddenResponse({ type: ErrorResponseDto })
@Controller('api/v1/admin/scep')
export class ScepAdminController {
  constructor(
    private readonly config: AppConfig,
    private readonly ras: ScepRaService,
  ) {}

  @Get('profiles')
  @RequirePermission('scep.admin')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    operationId: 'listScepProfiles',
    summary: 'The SCEP labels: path, issuer, profile, challenge kind and RA certificate (no secrets)',
  })
  @ApiOkResponse({ type: ScepProfileListDto })
  async list(): Promise<ScepProfileListDto> {
    const scep = this.config.enrollment.scep;
    if (!scep.enabled) return { enabled: false, data: [] };
    return { enabled: true, data: await Promise.all(scep.labels.map((l) => this.describe(l))) };
  }

  private async describe(label: ScepLabelConfig): Promise<ScepProfileDto> {
    const challenge = label.challengePassword && label.intune ? 'static+intune' : label.intune ? 'intune' : 'static';
    const base = {
      label: label.label,
      path: label.label ? `/scep/${label.label}` : '/scep',
      issuer_id: label.issuerId,
      profile_id: label.profileId ?? null,
      challenge,
      intune_audience: label.intune?.audience ?? null,
    } as const;
    try {
      const der = Buffer.from((await this.ras.material(label)).ra.certificate);
      const cert = new X509Certificate(der);
      return {
        ...base,
        ra_certificate: {
          subject: cert.subject.split('\n').join(', '),
          serial_number: cert.serialNumber,
          not_before: new Date(cert.validFrom).toISOString(),
          not_after: new Date(cert.validTo).toISOString(),
          fingerprint_sha256: createHash('sha256').update(der).digest('hex'),
          source: label.raCertPath ? 'files' : 'generated',
        },
        ra_error: null,
      };
    } catch (e) {
      return { ...base, ra_certificate: null, ra_error: (e as Error).message };
    }
  }
}
