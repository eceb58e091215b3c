import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

export class DigestQueryDto {
  @ApiPropertyOptional({
    minimum: 1,
    maximum: 365,
    default: 30,
    description: 'List certificates expiring within this many days (expired ones are always listed)',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(365)
  days?: number;
}

export class DigestSentDto {
  @ApiProperty({ type: [String], description: 'Addresses the digest went to (empty: the email channel default list)' })
  recipients!: string[];
  @ApiProperty({ example: 'Certificate digest: 3 expiring within 30 days (1 urgent), ...' }) subject!: string;
  @ApiProperty() certificates!: number;
  @ApiProperty() failed_jobs!: number;
  @ApiProperty() dead_notifications!: number;
  @ApiProperty() pending_approvals!: number;
  @ApiProperty({ format: 'date-time' }) sent_at!: string;
}
