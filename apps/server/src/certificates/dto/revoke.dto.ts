import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsISO8601, IsOptional } from 'class-validator';
import { RevocationReason } from '@certctl/domain';

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
