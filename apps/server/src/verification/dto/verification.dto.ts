import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsOptional, IsString, Matches, MaxLength } from 'class-validator';

/** SHA-256 as 64 hex digits, or as 32 colon-separated hex pairs (openssl's form); any case. */
export const FINGERPRINT_PATTERN = /^(?:[0-9A-Fa-f]{64}|[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){31})$/;

/** The stored form: lower-case hex without separators (as certificate versions keep it). */
export const normalizeFingerprint = (fp: string): string => fp.replace(/:/g, '').toLowerCase();

// eslint-disable-next-line no-control-regex
const PRINTABLE = /^[^\x00-\x1f\x7f]*$/;

export class ReportVerificationDto {
  @ApiProperty({ description: 'Whether the endpoint served the deployed certificate' })
  @IsBoolean({ message: 'verified must be true or false' })
  verified!: boolean;

  @ApiProperty({
    example: '3f1c9a5e0b7d2c4f6a8e1b3d5f7092a4c6e8f0b2d4a6c8e0f2b4d6a8c0e2f4a6',
    description: "SHA-256 of the deployed leaf (hex, colons allowed); must be the job's deployed version",
  })
  @Matches(FINGERPRINT_PATTERN, { message: 'expected_fingerprint must be a SHA-256 fingerprint (64 hex digits)' })
  @IsString()
  expected_fingerprint!: string;

  @ApiPropertyOptional({ description: 'SHA-256 of the leaf the endpoint served; required when verified is true' })
  @IsOptional()
  @Matches(FINGERPRINT_PATTERN, { message: 'served_fingerprint must be a SHA-256 fingerprint (64 hex digits)' })
  @IsString()
  served_fingerprint?: string;

  @ApiPropertyOptional({ example: 'connect ECONNREFUSED 127.0.0.1:443', description: 'Why verification failed' })
  @IsOptional()
  @MaxLength(2000)
  @IsString()
  error?: string;

  @ApiPropertyOptional({ example: 'web-01.example.com:443', description: 'The endpoint probed (host:port)' })
  @IsOptional()
  @Matches(PRINTABLE, { message: 'endpoint must not contain control characters' })
  @MaxLength(512)
  @IsString()
  endpoint?: string;
}

export class VerificationDto {
  @ApiProperty({ example: 'job-7k2m9q4r8t1v' }) job_id!: string;
  @ApiProperty({ type: String, nullable: true }) certificate_id!: string | null;
  @ApiProperty({ type: String, nullable: true }) target_id!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'The version the job deployed' })
  version_id!: string | null;
  @ApiProperty() verified!: boolean;
  @ApiProperty({ description: 'Lower-case hex' }) expected_fingerprint!: string;
  @ApiProperty({ type: String, nullable: true, description: 'Lower-case hex' }) served_fingerprint!: string | null;
  @ApiProperty({ type: String, nullable: true }) endpoint!: string | null;
  @ApiProperty({ type: String, nullable: true }) error!: string | null;
  @ApiProperty({ format: 'date-time', description: 'When the server recorded this (latest) result' })
  verified_at!: string;
  @ApiProperty({ description: 'The actor that reported it (an agent id or an API key id)' }) reported_by!: string;
}
