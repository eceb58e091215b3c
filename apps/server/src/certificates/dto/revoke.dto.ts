import { ApiProperty, ApiPropertyOptional, IntersectionType } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsISO8601, IsOptional } from 'class-validator';
import { RevocationReason } from '@certctl/domain';
import { IsClientId } from '../../http/dto-fields';
import { BulkCriteriaDto } from './bulk-criteria.dto';

const REASONS = Object.keys(RevocationReason);

export class RevokeCertificateDto {
  @ApiPropertyOptional({
    enum: REASONS,
    default: 'unspecified',
    description: 'RFC 5280 reason (case-insensitive): keyCompromise, superseded, cessationOfOperation, ...',
  })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? (REASONS.find((r) => r.toLowerCase() === value.toLowerCase()) ?? value) : value,
  )
  @IsIn(REASONS, { message: `reason must be one of ${REASONS.join(', ')}` })
  reason?: keyof typeof RevocationReason;

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'When the key is known or suspected to have been compromised (RFC 5280 invalidityDate)',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  invalidity_date?: string;
}

/** The criteria bulk revocation accepts, in the order its 400 message lists them. */
export const BULK_REVOKE_CRITERIA = ['profile_id', 'owner_id', 'agent_id', 'issuer_id', 'certificate_ids'] as const;

export class BulkRevokeDto extends IntersectionType(RevokeCertificateDto, BulkCriteriaDto) {
  @ApiPropertyOptional({ type: [String], description: 'Revoke exactly these certificates (at most 10,000)' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(10_000)
  @IsClientId({ each: true })
  certificate_ids?: string[];
}

export class BulkRevokeErrorDto {
  @ApiProperty() certificate_id!: string;
  @ApiProperty() message!: string;
}

export class BulkRevokeResultDto {
  @ApiProperty({ description: 'Certificates matching the filters (not archived, not already revoked)' })
  total_requested!: number;
  @ApiProperty() succeeded!: number;
  @ApiProperty() failed!: number;
  @ApiProperty({ type: [BulkRevokeErrorDto] }) errors!: BulkRevokeErrorDto[];
}
