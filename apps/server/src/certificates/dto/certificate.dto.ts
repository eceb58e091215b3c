import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  ValidateBy,
  ValidateIf,
  type ValidationOptions,
} from 'class-validator';
import { CertificateStatus } from '@certctl/domain';
import { ListQueryDto } from '../../http/list-query.dto';
import { PageOf } from '../../http/page.dto';
import type {
  CertificateExtras,
  CertificateVersionEntity,
  LatestVersionSummary,
  ManagedCertificateEntity,
} from '../certificate.entity';
import { MAX_TAGS, parseRfc3339, parseStatusList, rfc3339Problem, tagsProblem } from '../certificate-input';
import { checkCommonName, MAX_SANS, normalizeSans } from '../names';
import { IsClientId } from '../../http/dto-fields';

const NOT_BLANK = /\S/;
/** Optional, but when present never null (the column is NOT NULL). */
const Present = (field: string) => ValidateIf((o: Record<string, unknown>) => o[field] !== undefined);

// Validators run from the bottom decorator up and stop at the first error, so the type
// check sits lowest: `name: 42` reports "must be a string", not a pattern mismatch.

/** A validator whose message names the problem `check` found (undefined = valid). */
function Check(name: string, check: (value: unknown) => string | undefined, options?: ValidationOptions) {
  return ValidateBy(
    {
      name,
      validator: {
        validate: (value: unknown) => check(value) === undefined,
        defaultMessage: (args) => `${args?.property ?? name} ${check(args?.value) ?? 'is invalid'}`,
      },
    },
    options,
  );
}

const commonNameProblem = (v: unknown) => {
  if (typeof v !== 'string') return 'must be a string';
  const r = checkCommonName(v);
  return r.ok ? undefined : r.error;
};
const sansProblem = (v: unknown) => {
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) return 'must be an array of strings';
  const r = normalizeSans(v as string[]);
  return r.ok ? undefined : r.error;
};
const dateProblem = (v: unknown) =>
  typeof v === 'string' && parseRfc3339(v) ? undefined : rfc3339Problem(typeof v === 'string' ? v : '');
const statusProblem = (v: unknown) => {
  if (typeof v !== 'string') return 'must be a string';
  const r = parseStatusList(v);
  return typeof r === 'string' ? r : undefined;
};

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\x00-\x1f\x7f]/;
/** Text Postgres can store and a log line can show: no NUL or other control characters. */
const Printable = () =>
  Check('isPrintable', (v) =>
    typeof v === 'string' && CONTROL_CHARS.test(v) ? 'must not contain control characters' : undefined,
  );

const IsCommonName = () => Check('isCommonName', commonNameProblem);
const IsSans = () => Check('isSans', sansProblem);
const IsTags = () => Check('isTags', tagsProblem);
const IsRfc3339 = () => Check('isRfc3339', dateProblem);
const IsStatusList = () => Check('isStatusList', statusProblem);

/** The response fields taken from the newest certificate version (nulls before issuance). */
export function latestVersionFields(
  v: LatestVersionSummary | null | undefined,
): Pick<CertificateDto, 'serial_number' | 'fingerprint_sha256' | 'not_before'> {
  return {
    serial_number: v?.serial_number ?? null,
    fingerprint_sha256: v?.fingerprint_sha256 ?? null,
    not_before: v?.not_before.toISOString() ?? null,
  };
}

export class CertificateDto {
  @ApiProperty({ example: 'mc-api-prod' }) id!: string;
  @ApiProperty({ example: 'API production' }) name!: string;
  @ApiProperty({ example: 'api.example.com' }) common_name!: string;
  @ApiProperty({ type: [String], example: ['api.example.com', 'www.example.com'] }) sans!: string[];
  @ApiProperty({ example: 'production' }) environment!: string;
  @ApiProperty({ type: String, nullable: true, example: 'o-alice' }) owner_id!: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'team-platform' }) team_id!: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'iss-local' }) issuer_id!: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'rp-standard' }) renewal_policy_id!: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'prof-tls' }) profile_id!: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'ag-web01' }) agent_id!: string | null;
  @ApiProperty({ enum: Object.values(CertificateStatus), example: 'Active' }) status!: CertificateStatus;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) expires_at!: string | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, example: { service: 'api' } })
  tags!: Record<string, string>;
  @ApiProperty({ type: [String], example: ['t-nginx-web01'], description: 'Deployment targets it is mapped to' })
  target_ids!: string[];
  @ApiProperty({ type: String, nullable: true, description: 'Serial of the latest version (hex)' })
  serial_number!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'SHA-256 fingerprint of the latest version' })
  fingerprint_sha256!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'notBefore of the latest version' })
  not_before!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) archived_at!: string | null;

  /** Without `extras` the target ids and version fields are placeholders for enrichment. */
  static from(e: ManagedCertificateEntity, extras?: CertificateExtras): CertificateDto {
    return {
      id: e.id,
      name: e.name,
      common_name: e.commonName,
      sans: e.sans,
      environment: e.environment,
      owner_id: e.ownerId,
      team_id: e.teamId,
      issuer_id: e.issuerId,
      renewal_policy_id: e.renewalPolicyId,
      profile_id: e.profileId,
      agent_id: e.agentId,
      status: e.status,
      expires_at: e.expiresAt?.toISOString() ?? null,
      tags: e.tags,
      target_ids: extras?.targetIds ?? [],
      ...latestVersionFields(extras?.latestVersion),
      created_at: e.createdAt.toISOString(),
      updated_at: e.updatedAt.toISOString(),
      archived_at: e.archivedAt?.toISOString() ?? null,
    };
  }
}

export const CERTIFICATE_FIELDS = [
  'id',
  'name',
  'common_name',
  'sans',
  'environment',
  'owner_id',
  'team_id',
  'issuer_id',
  'renewal_policy_id',
  'profile_id',
  'agent_id',
  'status',
  'expires_at',
  'tags',
  'target_ids',
  'serial_number',
  'fingerprint_sha256',
  'not_before',
  'created_at',
  'updated_at',
  'archived_at',
] as const;

/** The references a certificate may carry: each must name an existing row. */
export const CERTIFICATE_REFS = [
  'owner_id',
  'team_id',
  'issuer_id',
  'renewal_policy_id',
  'profile_id',
  'agent_id',
] as const;
export type CertificateRef = (typeof CERTIFICATE_REFS)[number];

export class CreateCertificateDto {
  @ApiPropertyOptional({ example: 'mc-api-prod', description: 'Client-chosen id; generated (`mc-…`) when absent' })
  @IsOptional()
  @IsClientId()
  @IsString()
  id?: string;

  @ApiProperty({ example: 'API production' })
  @Matches(NOT_BLANK, { message: 'name must not be blank' })
  @Printable()
  @MaxLength(200)
  @IsString()
  name!: string;

  @ApiProperty({ example: 'api.example.com', description: 'A DNS name (wildcard allowed) or an IP address' })
  @IsCommonName()
  @IsString()
  common_name!: string;

  @ApiPropertyOptional({
    type: [String],
    maxItems: MAX_SANS,
    example: ['api.example.com', '10.0.0.5', 'ops@example.com', 'spiffe://example.com/api'],
    description: 'DNS names (wildcards allowed), IP addresses, email addresses and URIs; duplicates are dropped',
  })
  @IsOptional()
  @IsSans()
  sans?: string[];

  @ApiPropertyOptional({ example: 'production', maxLength: 64 })
  @IsOptional()
  @Printable()
  @MaxLength(64)
  @IsString()
  environment?: string;

  @ApiPropertyOptional({ type: String, nullable: true, description: 'An existing owner' })
  @IsOptional()
  @IsClientId()
  @IsString()
  owner_id?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, description: 'An existing team' })
  @IsOptional()
  @IsClientId()
  @IsString()
  team_id?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, description: 'An existing issuer' })
  @IsOptional()
  @IsClientId()
  @IsString()
  issuer_id?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, description: 'An existing renewal policy' })
  @IsOptional()
  @IsClientId()
  @IsString()
  renewal_policy_id?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, description: 'An existing certificate profile' })
  @IsOptional()
  @IsClientId()
  @IsString()
  profile_id?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, description: 'An existing, non-retired agent' })
  @IsOptional()
  @IsClientId()
  @IsString()
  agent_id?: string | null;

  @ApiPropertyOptional({
    type: [String],
    maxItems: 100,
    description: 'Existing, non-retired deployment targets to map; duplicates are dropped',
  })
  @IsOptional()
  @IsClientId({ each: true })
  @IsString({ each: true })
  @ArrayMaxSize(100)
  @IsArray()
  target_ids?: string[];

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    maxProperties: MAX_TAGS,
    example: { service: 'api', cost_center: 'cc-42' },
  })
  @IsOptional()
  @IsTags()
  tags?: Record<string, string>;
}

/**
 * Partial update: absent fields keep their value; a reference set to null is cleared;
 * `sans`, `target_ids` and `tags` are replaced as a whole when present.
 */
export class UpdateCertificateDto {
  @ApiPropertyOptional({ example: 'API production' })
  @Present('name')
  @Matches(NOT_BLANK, { message: 'name must not be blank' })
  @Printable()
  @MaxLength(200)
  @IsString()
  name?: string;

  @ApiPropertyOptional({ example: 'api.example.com' })
  @Present('common_name')
  @IsCommonName()
  @IsString()
  common_name?: string;

  @ApiPropertyOptional({ type: [String], maxItems: MAX_SANS })
  @Present('sans')
  @IsSans()
  sans?: string[];

  @ApiPropertyOptional({ maxLength: 64 })
  @Present('environment')
  @Printable()
  @MaxLength(64)
  @IsString()
  environment?: string;

  @ApiPropertyOptional({ type: String, nullable: true })
  @IsOptional()
  @IsClientId()
  @IsString()
  owner_id?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true })
  @IsOptional()
  @IsClientId()
  @IsString()
  team_id?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true })
  @IsOptional()
  @IsClientId()
  @IsString()
  issuer_id?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true })
  @IsOptional()
  @IsClientId()
  @IsString()
  renewal_policy_id?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true })
  @IsOptional()
  @IsClientId()
  @IsString()
  profile_id?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true })
  @IsOptional()
  @IsClientId()
  @IsString()
  agent_id?: string | null;

  @ApiPropertyOptional({ type: [String], maxItems: 100, description: 'Replaces the mapped targets' })
  @Present('target_ids')
  @IsClientId({ each: true })
  @IsString({ each: true })
  @ArrayMaxSize(100)
  @IsArray()
  target_ids?: string[];

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' }, maxProperties: MAX_TAGS })
  @Present('tags')
  @IsTags()
  tags?: Record<string, string>;
}

/** certctl's camelCase sort names, plus the snake_case forms of the API's own fields. */
export const CERTIFICATE_SORTS = [
  'notAfter',
  'expiresAt',
  'createdAt',
  'updatedAt',
  'commonName',
  'name',
  'status',
  'environment',
  'expires_at',
  'created_at',
  'updated_at',
  'common_name',
] as const;

const toBool = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^(true|false)$/i.test(value) ? value.toLowerCase() === 'true' : value;

export class CertificateListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({
    description: `Sort field, \`-\` prefix for descending. One of: ${CERTIFICATE_SORTS.join(', ')}`,
    example: 'expiresAt',
  })
  @IsOptional()
  @Matches(/^-?[A-Za-z_]{1,64}$/, { message: 'sort must be a field name, optionally prefixed with -' })
  @IsString()
  override sort?: string = undefined;

  @ApiPropertyOptional({
    description: `One status or several, comma-separated (${Object.values(CertificateStatus).join(', ')}); case-insensitive`,
    example: 'Active,Expiring',
  })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) =>
    Array.isArray(value) && value.every((v) => typeof v === 'string') ? value.join(',') : value,
  )
  @IsStatusList()
  @MaxLength(200)
  @IsString()
  status?: string;

  @ApiPropertyOptional({ description: 'Exact environment' })
  @IsOptional()
  @Printable()
  @MaxLength(64)
  @IsString()
  environment?: string;

  @ApiPropertyOptional() @IsOptional() @Printable() @MaxLength(128) @IsString() owner_id?: string;
  @ApiPropertyOptional() @IsOptional() @Printable() @MaxLength(128) @IsString() team_id?: string;
  @ApiPropertyOptional() @IsOptional() @Printable() @MaxLength(128) @IsString() issuer_id?: string;
  @ApiPropertyOptional() @IsOptional() @Printable() @MaxLength(128) @IsString() agent_id?: string;
  @ApiPropertyOptional() @IsOptional() @Printable() @MaxLength(128) @IsString() profile_id?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Expiring before this instant (RFC 3339)' })
  @IsOptional()
  @IsRfc3339()
  @IsString()
  expires_before?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Expiring after this instant (RFC 3339)' })
  @IsOptional()
  @IsRfc3339()
  @IsString()
  expires_after?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Created after this instant (RFC 3339)' })
  @IsOptional()
  @IsRfc3339()
  @IsString()
  created_after?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Updated after this instant (RFC 3339)' })
  @IsOptional()
  @IsRfc3339()
  @IsString()
  updated_after?: string;

  @ApiPropertyOptional({ description: 'Case-insensitive substring of the name or common name' })
  @IsOptional()
  @Printable()
  @MaxLength(200)
  @IsString()
  q?: string;

  @ApiPropertyOptional({ type: Boolean, description: 'Include archived certificates (default false)' })
  @IsOptional()
  @Transform(toBool)
  @IsIn([true, false], { message: 'include_archived must be true or false' })
  include_archived?: boolean;
}

export class CertificatePageDto extends PageOf(CertificateDto, 'CertificatePage') {}

export class CertificateVersionDto {
  @ApiProperty({ example: 'cv-2b7k9xq4m1zp' }) id!: string;
  @ApiProperty({ example: '4f1a09c2d3' }) serial_number!: string;
  @ApiProperty({ example: '9c1e…' }) fingerprint_sha256!: string;
  @ApiProperty({ format: 'date-time' }) not_before!: string;
  @ApiProperty({ format: 'date-time' }) not_after!: string;
  @ApiProperty({ example: 'ECDSA' }) key_algorithm!: string;
  @ApiProperty({ example: 256 }) key_size!: number;
  @ApiProperty({ description: 'Leaf certificate followed by its chain, PEM' }) pem_chain!: string;
  @ApiProperty({ format: 'date-time' }) created_at!: string;

  static from(e: CertificateVersionEntity): CertificateVersionDto {
    return {
      id: e.id,
      serial_number: e.serialNumber,
      fingerprint_sha256: e.fingerprintSha256,
      not_before: e.notBefore.toISOString(),
      not_after: e.notAfter.toISOString(),
      key_algorithm: e.keyAlgorithm,
      key_size: e.keySize,
      pem_chain: e.pemChain,
      created_at: e.createdAt.toISOString(),
    };
  }
}

export const CERTIFICATE_VERSION_FIELDS = [
  'id',
  'serial_number',
  'fingerprint_sha256',
  'not_before',
  'not_after',
  'key_algorithm',
  'key_size',
  'pem_chain',
  'created_at',
] as const;

export class CertificateVersionListQueryDto extends ListQueryDto {}

export class CertificateVersionPageDto extends PageOf(CertificateVersionDto, 'CertificateVersionPage') {}

export class CertificateDeploymentDto {
  @ApiProperty({ example: 't-nginx-web01' }) target_id!: string;
  @ApiProperty({ example: 'web01 nginx' }) name!: string;
  @ApiProperty({ example: 'NGINX' }) type!: string;
  @ApiProperty({ type: String, nullable: true, example: 'ag-web01' }) agent_id!: string | null;
  @ApiProperty({ description: 'The target is enabled and not retired' }) active!: boolean;
  @ApiProperty({ format: 'date-time', description: 'When the certificate was mapped to the target' })
  mapped_at!: string;
  @ApiProperty({ type: String, nullable: true, description: 'Latest Deployment job for this pair' })
  job_id!: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'Completed', description: 'Its status' })
  status!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'Its last error, if it failed' })
  last_error!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When that job last changed' })
  updated_at!: string | null;
}

export class CertificateDeploymentListDto {
  @ApiProperty({ type: [CertificateDeploymentDto] }) data!: CertificateDeploymentDto[];
  @ApiProperty() total!: number;
}
