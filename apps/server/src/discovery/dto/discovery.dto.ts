import { ApiProperty, ApiPropertyOptional, IntersectionType } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateBy,
  ValidateNested,
} from 'class-validator';
import { ListQueryDto } from '../../http/list-query.dto';
import { PageOf } from '../../http/page.dto';
import { IsClientId, IsResourceName } from '../../http/dto-fields';
import { parseRfc3339, rfc3339Problem } from '../../certificates/certificate-input';
import { FINGERPRINT_PATTERN } from '../../verification/dto/verification.dto';
import {
  DISCOVERY_SOURCES,
  DISCOVERY_STATUSES,
  type DiscoveredCertificateEntity,
  type DiscoveryScanEntity,
} from '../discovery.entity';

/** Bounds of one report: larger inventories are sent as several reports. */
export const MAX_REPORT_CERTIFICATES = 1000;
export const MAX_SCAN_DIRECTORIES = 100;
export const MAX_SCAN_ERRORS = 1000;
export const MAX_PATH_LENGTH = 4096;
export const MAX_SANS_PER_CERTIFICATE = 500;
export const MAX_DN_LENGTH = 4096;

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;

const caseless =
  (values: readonly string[]) =>
  ({ value }: { value: unknown }): unknown =>
    typeof value === 'string' ? (values.find((v) => v.toLowerCase() === value.toLowerCase()) ?? value) : value;

/** An RFC 3339 date-time string (calendar checked); the message names the field. */
const IsRfc3339 = () =>
  ValidateBy({
    name: 'isRfc3339',
    validator: {
      validate: (v: unknown) => typeof v === 'string' && parseRfc3339(v) !== undefined,
      defaultMessage: (args) => `${args?.property ?? 'value'} ${rfc3339Problem(String(args?.value ?? ''))}`,
    },
  });

export class ScanErrorDto {
  @ApiProperty({ example: '/etc/ssl/private' })
  @MaxLength(MAX_PATH_LENGTH)
  @IsString()
  path!: string;

  @ApiProperty({ example: 'EACCES: permission denied' })
  @MaxLength(2000)
  @IsString()
  message!: string;
}

export class DiscoveryScanInputDto {
  @ApiPropertyOptional({ enum: DISCOVERY_SOURCES, default: 'filesystem' })
  @IsOptional()
  @IsIn(DISCOVERY_SOURCES, { message: `source must be one of ${DISCOVERY_SOURCES.join(', ')}` })
  source?: (typeof DISCOVERY_SOURCES)[number];

  @ApiProperty({ format: 'date-time', example: '2026-01-31T00:00:00Z' })
  @IsRfc3339()
  @IsString()
  started_at!: string;

  @ApiProperty({ format: 'date-time', example: '2026-01-31T00:00:04Z', description: 'Not before started_at' })
  @IsRfc3339()
  @IsString()
  finished_at!: string;

  @ApiPropertyOptional({ type: [String], maxItems: MAX_SCAN_DIRECTORIES, example: ['/etc/ssl', '/etc/nginx'] })
  @IsOptional()
  @MaxLength(MAX_PATH_LENGTH, { each: true })
  @IsString({ each: true })
  @ArrayMaxSize(MAX_SCAN_DIRECTORIES)
  @IsArray()
  directories?: string[];

  @ApiPropertyOptional({
    type: [ScanErrorDto],
    maxItems: MAX_SCAN_ERRORS,
    description: 'Files or folders it could not read',
  })
  @IsOptional()
  @ValidateNested({ each: true })
  @Type(() => ScanErrorDto)
  @IsObject({ each: true, message: 'each entry of errors must be an object {path, message}' })
  @ArrayMaxSize(MAX_SCAN_ERRORS)
  @IsArray()
  errors?: ScanErrorDto[];
}

export class DiscoveredCertificateInputDto {
  @ApiProperty({ example: '/etc/nginx/ssl/api.crt', maxLength: MAX_PATH_LENGTH })
  @MaxLength(MAX_PATH_LENGTH)
  @MinLength(1)
  @IsString()
  source_path!: string;

  @ApiProperty({ description: 'SHA-256 of the DER certificate (hex, colons allowed): the dedup key' })
  @Matches(FINGERPRINT_PATTERN, { message: 'fingerprint_sha256 must be a SHA-256 fingerprint (64 hex digits)' })
  @IsString()
  fingerprint_sha256!: string;

  @ApiPropertyOptional({ example: 'api.example.com', maxLength: 1024 })
  @IsOptional()
  @MaxLength(1024)
  @IsString()
  common_name?: string;

  @ApiPropertyOptional({ type: [String], maxItems: MAX_SANS_PER_CERTIFICATE, example: ['api.example.com', '10.0.0.5'] })
  @IsOptional()
  @MaxLength(2048, { each: true })
  @IsString({ each: true })
  @ArrayMaxSize(MAX_SANS_PER_CERTIFICATE)
  @IsArray()
  sans?: string[];

  @ApiPropertyOptional({ example: '4f2a9c', description: 'Hex (colons allowed)' })
  @IsOptional()
  @Matches(/^(?:[0-9A-Fa-f]{1,128}|[0-9A-Fa-f]{1,2}(?::[0-9A-Fa-f]{2}){0,63})$/, {
    message: 'serial must be hexadecimal (at most 64 bytes)',
  })
  @IsString()
  serial?: string;

  @ApiPropertyOptional({ example: 'CN=Example Issuing CA,O=Example' })
  @IsOptional()
  @MaxLength(MAX_DN_LENGTH)
  @IsString()
  issuer_dn?: string;

  @ApiPropertyOptional({ example: 'CN=api.example.com' })
  @IsOptional()
  @MaxLength(MAX_DN_LENGTH)
  @IsString()
  subject_dn?: string;

  @ApiProperty({ format: 'date-time' })
  @IsRfc3339()
  @IsString()
  not_before!: string;

  @ApiProperty({ format: 'date-time' })
  @IsRfc3339()
  @IsString()
  not_after!: string;

  @ApiPropertyOptional({ example: 'ECDSA', maxLength: 64 })
  @IsOptional()
  @MaxLength(64)
  @IsString()
  key_algorithm?: string;

  @ApiPropertyOptional({ type: 'integer', nullable: true, example: 256, minimum: 0, maximum: 65536 })
  @IsOptional()
  @Max(65536)
  @Min(0)
  @IsInt({ message: 'key_size must be an integer' })
  key_size?: number | null;

  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean({ message: 'is_ca must be true or false' })
  is_ca?: boolean;

  @ApiPropertyOptional({ enum: ['pem', 'der'], default: 'pem' })
  @IsOptional()
  @IsIn(['pem', 'der'], { message: 'format must be pem or der' })
  format?: 'pem' | 'der';
}

export class DiscoveryReportDto {
  @ApiProperty({ type: DiscoveryScanInputDto })
  @ValidateNested()
  @Type(() => DiscoveryScanInputDto)
  @IsObject({ message: 'scan must be an object' })
  scan!: DiscoveryScanInputDto;

  @ApiProperty({
    type: [DiscoveredCertificateInputDto],
    maxItems: MAX_REPORT_CERTIFICATES,
    description: `At most ${MAX_REPORT_CERTIFICATES} per report; a larger inventory is sent as several reports`,
  })
  @ValidateNested({ each: true })
  @Type(() => DiscoveredCertificateInputDto)
  @IsObject({ each: true, message: 'each entry of certificates must be an object' })
  @ArrayMaxSize(MAX_REPORT_CERTIFICATES)
  @IsArray()
  certificates!: DiscoveredCertificateInputDto[];
}

export class DiscoveryReportResultDto {
  @ApiProperty({ example: 'ds-7k2m9q4r8t1v' }) scan_id!: string;
  @ApiProperty() agent_id!: string;
  @ApiProperty({ description: 'Distinct (fingerprint, path) pairs in the report' }) certificates_found!: number;
  @ApiProperty({ description: 'Not known before this report' }) new_certificates!: number;
  @ApiProperty({ description: 'Already known: last_seen moved' }) updated_certificates!: number;
  @ApiProperty() error_count!: number;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export class DiscoveredCertificateDto {
  @ApiProperty({ example: 'dc-7k2m9q4r8t1v' }) id!: string;
  @ApiProperty() agent_id!: string;
  @ApiProperty() source_path!: string;
  @ApiProperty({ enum: ['pem', 'der'] }) source_format!: string;
  @ApiProperty({ description: 'Lower-case hex' }) fingerprint_sha256!: string;
  @ApiProperty() common_name!: string;
  @ApiProperty({ type: [String] }) sans!: string[];
  @ApiProperty({ description: 'Lower-case hex' }) serial!: string;
  @ApiProperty() issuer_dn!: string;
  @ApiProperty() subject_dn!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) not_before!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) not_after!: string | null;
  @ApiProperty() key_algorithm!: string;
  @ApiProperty({ type: 'integer', nullable: true }) key_size!: number | null;
  @ApiProperty() is_ca!: boolean;
  @ApiProperty({ enum: DISCOVERY_STATUSES }) status!: string;
  @ApiProperty({ type: String, nullable: true, description: 'Set when claimed (status Managed)' })
  managed_certificate_id!: string | null;
  @ApiProperty({ format: 'date-time' }) first_seen!: string;
  @ApiProperty({ format: 'date-time' }) last_seen!: string;
  @ApiProperty({ type: String, nullable: true }) last_scan_id!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static from(e: DiscoveredCertificateEntity): DiscoveredCertificateDto {
    return {
      id: e.id,
      agent_id: e.agentId,
      source_path: e.sourcePath,
      source_format: e.sourceFormat,
      fingerprint_sha256: e.fingerprintSha256,
      common_name: e.commonName,
      sans: e.sans,
      serial: e.serial,
      issuer_dn: e.issuerDn,
      subject_dn: e.subjectDn,
      not_before: iso(e.notBefore),
      not_after: iso(e.notAfter),
      key_algorithm: e.keyAlgorithm,
      key_size: e.keySize,
      is_ca: e.isCa,
      status: e.status,
      managed_certificate_id: e.managedCertificateId,
      first_seen: e.firstSeen.toISOString(),
      last_seen: e.lastSeen.toISOString(),
      last_scan_id: e.lastScanId,
      created_at: e.createdAt.toISOString(),
      updated_at: e.updatedAt.toISOString(),
    };
  }
}

export const DISCOVERED_FIELDS = [
  'id',
  'agent_id',
  'source_path',
  'source_format',
  'fingerprint_sha256',
  'common_name',
  'sans',
  'serial',
  'issuer_dn',
  'subject_dn',
  'not_before',
  'not_after',
  'key_algorithm',
  'key_size',
  'is_ca',
  'status',
  'managed_certificate_id',
  'first_seen',
  'last_seen',
  'last_scan_id',
  'created_at',
  'updated_at',
] as const;

export const MAX_EXPIRING_DAYS = 3650;

export class DiscoveredCertificateFilterDto {
  @ApiPropertyOptional({ enum: DISCOVERY_STATUSES })
  @IsOptional()
  @Transform(caseless(DISCOVERY_STATUSES))
  @IsIn(DISCOVERY_STATUSES, { message: `status must be one of ${DISCOVERY_STATUSES.join(', ')}` })
  status?: string;

  @ApiPropertyOptional({ example: 'ag-web-01' }) @IsOptional() @MaxLength(128) @IsString() agent_id?: string;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 0,
    maximum: MAX_EXPIRING_DAYS,
    description: 'Only certificates expiring within this many days (already expired ones included)',
  })
  @IsOptional()
  @Transform(toInt)
  @Max(MAX_EXPIRING_DAYS)
  @Min(0)
  @IsInt({ message: 'expiring must be a whole number of days' })
  expiring?: number;

  @ApiPropertyOptional({ description: 'SHA-256 fingerprint (hex, colons allowed)' })
  @IsOptional()
  @Matches(FINGERPRINT_PATTERN, { message: 'fingerprint_sha256 must be a SHA-256 fingerprint (64 hex digits)' })
  @IsString()
  fingerprint_sha256?: string;
}

export class DiscoveredCertificateListQueryDto extends IntersectionType(DiscoveredCertificateFilterDto, ListQueryDto) {}

export class DiscoveredCertificatePageDto extends PageOf(DiscoveredCertificateDto, 'DiscoveredCertificatePage') {}

export class ClaimCreateDto {
  @ApiProperty({ example: 'API production (discovered)' })
  @IsResourceName()
  name!: string;

  @ApiPropertyOptional({ description: 'An existing owner' })
  @IsOptional()
  @IsClientId()
  @IsString()
  owner_id?: string;

  @ApiPropertyOptional({ description: 'An existing team' })
  @IsOptional()
  @IsClientId()
  @IsString()
  team_id?: string;

  @ApiPropertyOptional({ description: 'An existing issuer (renewals go through it)' })
  @IsOptional()
  @IsClientId()
  @IsString()
  issuer_id?: string;

  @ApiPropertyOptional({ description: 'An existing certificate profile' })
  @IsOptional()
  @IsClientId()
  @IsString()
  profile_id?: string;
}

/** Exactly one of the two: link an existing managed certificate, or create one from the discovered names. */
export class ClaimDiscoveredCertificateDto {
  @ApiPropertyOptional({ example: 'mc-api-prod', description: 'An existing managed certificate to link' })
  @IsOptional()
  @IsClientId()
  @IsString()
  managed_certificate_id?: string;

  @ApiPropertyOptional({
    type: ClaimCreateDto,
    description: "Create a managed certificate with the discovered certificate's common name and SANs",
  })
  @IsOptional()
  @ValidateNested()
  @Type(() => ClaimCreateDto)
  @IsObject({ message: 'create must be an object' })
  create?: ClaimCreateDto;
}

export class DismissDiscoveredCertificateDto {
  @ApiPropertyOptional({ example: 'test certificate on a lab host', description: 'Kept in the audit trail' })
  @IsOptional()
  @MaxLength(500)
  @IsString()
  reason?: string;
}

export class DiscoveryScanDto {
  @ApiProperty({ example: 'ds-7k2m9q4r8t1v' }) id!: string;
  @ApiProperty() agent_id!: string;
  @ApiProperty({ enum: DISCOVERY_SOURCES }) source!: string;
  @ApiProperty({ format: 'date-time' }) started_at!: string;
  @ApiProperty({ format: 'date-time' }) finished_at!: string;
  @ApiProperty({ type: [String] }) directories!: string[];
  @ApiProperty() certificates_found!: number;
  @ApiProperty() new_certificates!: number;
  @ApiProperty() error_count!: number;
  @ApiProperty({ type: [ScanErrorDto] }) errors!: ScanErrorDto[];
  @ApiProperty({ description: 'The actor that posted the report' }) reported_by!: string;
  @ApiProperty({ format: 'date-time' }) created_at!: string;

  static from(e: DiscoveryScanEntity): DiscoveryScanDto {
    return {
      id: e.id,
      agent_id: e.agentId,
      source: e.source,
      started_at: e.startedAt.toISOString(),
      finished_at: e.finishedAt.toISOString(),
      directories: e.directories,
      certificates_found: e.certificatesFound,
      new_certificates: e.newCertificates,
      error_count: e.errorCount,
      errors: e.errors,
      reported_by: e.reportedBy,
      created_at: e.createdAt.toISOString(),
    };
  }
}

export const SCAN_FIELDS = [
  'id',
  'agent_id',
  'source',
  'started_at',
  'finished_at',
  'directories',
  'certificates_found',
  'new_certificates',
  'error_count',
  'errors',
  'reported_by',
  'created_at',
] as const;

export class DiscoveryScanFilterDto {
  @ApiPropertyOptional({ example: 'ag-web-01' }) @IsOptional() @MaxLength(128) @IsString() agent_id?: string;
}

export class DiscoveryScanListQueryDto extends IntersectionType(DiscoveryScanFilterDto, ListQueryDto) {}

export class DiscoveryScanPageDto extends PageOf(DiscoveryScanDto, 'DiscoveryScanPage') {}

export class DiscoverySummaryQueryDto {
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: MAX_EXPIRING_DAYS,
    default: 30,
    description: 'The horizon of expiring_soon, in days',
  })
  @IsOptional()
  @Transform(toInt)
  @Max(MAX_EXPIRING_DAYS)
  @Min(1)
  @IsInt({ message: 'expiring_days must be a whole number of days' })
  expiring_days?: number;
}

export class DiscoveryAgentSummaryDto {
  @ApiProperty() agent_id!: string;
  @ApiProperty({ type: String, nullable: true }) agent_name!: string | null;
  @ApiProperty() total!: number;
  @ApiProperty() unmanaged!: number;
  @ApiProperty() managed!: number;
  @ApiProperty() dismissed!: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'Its latest scan' })
  last_scan_at!: string | null;
}

export class DiscoverySummaryDto {
  @ApiProperty() total!: number;
  @ApiProperty() unmanaged!: number;
  @ApiProperty() managed!: number;
  @ApiProperty() dismissed!: number;
  @ApiProperty({ description: 'Unmanaged certificates not expired but expiring within expiring_days' })
  expiring_soon!: number;
  @ApiProperty({ description: 'Unmanaged certificates already expired' }) expired!: number;
  @ApiProperty() expiring_days!: number;
  @ApiProperty({ type: [DiscoveryAgentSummaryDto] }) by_agent!: DiscoveryAgentSummaryDto[];
  @ApiProperty({ description: 'Scans recorded' }) scans!: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) last_scan_at!: string | null;
}
