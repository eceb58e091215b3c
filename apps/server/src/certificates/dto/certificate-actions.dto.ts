import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsOptional,
  IsString,
  MaxLength,
  MinLength,
  ValidateIf,
} from 'class-validator';
import { JobDto } from '../../jobs/dto/job.dto';
import { IsClientId } from '../../http/dto-fields';
import { BulkCriteriaDto } from './bulk-criteria.dto';

/** At most this many certificates per bulk renewal or reassignment request. */
export const BULK_ACTION_LIMIT = 1000;

/** The criteria bulk renewal accepts, in the order its 400 message lists them. */
export const BULK_RENEW_CRITERIA = [
  'certificate_ids',
  'profile_id',
  'owner_id',
  'team_id',
  'issuer_id',
  'agent_id',
] as const;

/** A job a certificate action created, or the open one it found. */
export class CertificateJobDto extends JobDto {
  @ApiProperty({ description: 'False when an open job of the same kind already existed: this is that job' })
  created!: boolean;
}

export class DeployCertificateDto {
  @ApiPropertyOptional({
    type: [String],
    description: 'Deploy to these mapped targets only (default: every enabled, non-retired mapped target)',
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(BULK_ACTION_LIMIT)
  @IsClientId({ each: true })
  target_ids?: string[];
}

export class DeploymentJobsDto {
  @ApiProperty({ type: [CertificateJobDto], description: 'One Deployment job per target' })
  jobs!: CertificateJobDto[];
}

export class BulkRenewDto extends BulkCriteriaDto {
  @ApiPropertyOptional({ description: 'Certificates of this team' })
  @IsOptional()
  @IsClientId()
  team_id?: string;

  @ApiPropertyOptional({
    type: [String],
    description: `Renew exactly these certificates (at most ${BULK_ACTION_LIMIT})`,
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(BULK_ACTION_LIMIT)
  @IsClientId({ each: true })
  certificate_ids?: string[];
}

export class BulkActionFailureDto {
  @ApiProperty() certificate_id!: string;
  @ApiProperty({ description: 'Why this certificate was left out' }) error!: string;
}

export class BulkRenewResultDto {
  @ApiProperty({ description: 'Live certificates (not archived, not revoked) matching the filters' })
  matched!: number;
  @ApiProperty({ description: 'New Issuance/Renewal jobs' }) created!: number;
  @ApiProperty({ description: 'Certificates that already had an open Issuance/Renewal job' }) skipped!: number;
  @ApiProperty({ type: [BulkActionFailureDto] }) failed!: BulkActionFailureDto[];
  @ApiProperty({ type: [String], description: 'The jobs now in charge: created ones and already open ones' })
  job_ids!: string[];
}

export class BulkReassignDto {
  @ApiProperty({ type: [String], description: `The certificates to reassign (1-${BULK_ACTION_LIMIT})` })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(BULK_ACTION_LIMIT)
  @IsClientId({ each: true })
  certificate_ids!: string[];

  @ApiPropertyOptional({ type: String, nullable: true, description: 'New owner (null clears it)' })
  @ValidateIf((o: BulkReassignDto) => o.owner_id !== null && o.owner_id !== undefined)
  @IsClientId()
  @IsString()
  owner_id?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, description: 'New team (null clears it)' })
  @ValidateIf((o: BulkReassignDto) => o.team_id !== null && o.team_id !== undefined)
  @IsClientId()
  @IsString()
  team_id?: string | null;
}

export class BulkReassignResultDto {
  @ApiProperty({ description: 'Certificates that now carry the requested owner/team' }) updated!: number;
  @ApiProperty({ type: [BulkActionFailureDto], description: 'Unknown or archived certificates, and other failures' })
  failed!: BulkActionFailureDto[];
}

export class PemExportQueryDto {
  @ApiPropertyOptional({
    enum: ['json', 'file'],
    description: 'file: the PEM itself as an attachment (same as `Accept: application/x-pem-file`)',
  })
  @IsOptional()
  @IsIn(['json', 'file'], { message: 'format must be json or file' })
  format?: 'json' | 'file';
}

export class PemExportDto {
  @ApiProperty() certificate_id!: string;
  @ApiProperty() version_id!: string;
  @ApiProperty({ description: 'Hex serial of the exported version' }) serial_number!: string;
  @ApiProperty({ description: 'The leaf certificate, PEM' }) certificate_pem!: string;
  @ApiProperty({ description: 'The issuing CA and any intermediates above it, PEM (may be empty)' }) chain_pem!: string;
  @ApiProperty({ description: 'Leaf followed by the chain, PEM' }) full_chain_pem!: string;
}

/** PKCS#12 passwords: long enough not to be trivially guessed offline, short enough for any tool. */
export const PKCS12_PASSWORD_MIN = 8;
export const PKCS12_PASSWORD_MAX = 128;

export class Pkcs12ExportDto {
  @ApiProperty({
    minLength: PKCS12_PASSWORD_MIN,
    maxLength: PKCS12_PASSWORD_MAX,
    description: 'Protects the key, the certificates and the MAC of the file (never stored or logged)',
  })
  @MinLength(PKCS12_PASSWORD_MIN)
  @MaxLength(PKCS12_PASSWORD_MAX)
  @IsString()
  password!: string;
}
