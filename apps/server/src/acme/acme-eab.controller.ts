import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiCreatedResponse,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { CurrentPrincipal, RequirePermission } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import { AcmeEabKeys } from './acme-eab';

export class CreateAcmeEabKeyDto {
  @ApiPropertyOptional({ description: 'What the key is for (shown in the audit trail)', maxLength: 200 })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  description?: string;
}

export class AcmeEabKeyDto {
  @ApiProperty({ description: 'EAB key id (certbot --eab-kid, lego --kid)' })
  kid!: string;

  @ApiProperty({ description: 'base64url HMAC key (certbot --eab-hmac-key, lego --hmac); returned only here, once' })
  hmac_key!: string;

  @ApiProperty({ format: 'date-time' })
  created_at!: string;
}

@ApiTags('acme')
@ApiBadRequestResponse({ type: ErrorResponseDto })
@Controller('api/v1/acme')
export class AcmeEabController {
  constructor(private readonly keys: AcmeEabKeys) {}

  @Post('eab-keys')
  @HttpCode(201)
  @RequirePermission('est.admin')
  @ApiOperation({
    operationId: 'createAcmeEabKey',
    summary: 'Create a single-use ACME External Account Binding key (the HMAC key is shown once)',
  })
  @ApiCreatedResponse({ type: AcmeEabKeyDto })
  @ApiServiceUnavailableResponse({
    type: ErrorResponseDto,
    description: 'No CERTCTL_CONFIG_ENCRYPTION_KEY to seal it with',
  })
  async create(@CurrentPrincipal() p: Principal, @Body() body: CreateAcmeEabKeyDto): Promise<AcmeEabKeyDto> {
    const k = await this.keys.create(p, body.description ?? '');
    return { kid: k.kid, hmac_key: k.hmacKey, created_at: k.createdAt.toISOString() };
  }
}
