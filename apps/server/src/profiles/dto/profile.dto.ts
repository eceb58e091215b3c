import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
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
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import {
  DEFAULT_EKUS,
  EKU_OIDS,
  KEY_ALGORITHMS,
  MAX_REQUIRED_APPROVALS,
  PROFILE_MAX_TTL_SECONDS,
  SAN_RULES_MAX_PATTERNS,
  SAN_RULES_MAX_SANS,
  type KeyAlgorithm,
  type SanRules,
} from '@certctl/domain';
import { ListQueryDto } from '../../http/list-query.dto';
import { PageOf } from '../../http/page.dto';
import type { AcmeAuthMode } from '../../acme/acme-config';
import type { ProfileEntity } from '../profile.entity';
import { IsClientId } from '../../http/dto-fields';

const NOT_BLANK = /\S/;
const REQUIRED_APPROVALS_MESSAGE = `required_approvals must be an integer from 1 to ${MAX_REQUIRED_APPROVALS}`;
/** More roles than this in one pool says the pool is not a pool. */
export const MAX_APPROVER_ROLES = 20;
const REQUIRED_APPROVALS_DESCRIPTION =
  'Distinct approvers (never the requester) needed before gated issuance or a profile edit proceeds (M-of-N)';
const APPROVER_ROLES_DESCRIPTION =
  'Role ids (e.g. `role-security`); when non-empty an approver must hold one of them. Each must exist.';
const TTL_MESSAGE = `max_ttl_seconds must be an integer from 1 to ${PROFILE_MAX_TTL_SECONDS} (825 days)`;
const ACME_AUTH_MODES = ['trust_authenticated', 'challenge'] as const satisfies readonly AcmeAuthMode[];
const ACME_AUTH_MODE_MESSAGE = 'acme_auth_mode must be trust_authenticated, challenge or null';
const ACME_AUTH_MODE_DESCRIPTION =
  'ACME auth mode at `/acme/profile/{id}/`: `trust_authenticated` (an authenticated account is authorized at once) or `challenge` (http-01/dns-01/tls-alpn-01 validation). null: CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE.';
const ACME_EAB_DESCRIPTION =
  'Whether newAccount at `/acme/profile/{id}/` needs External Account Binding. null: CERTCTL_ACME_SERVER_EAB_REQUIRED.';
/** Optional, but when present never null (the column is NOT NULL). */
const Present = (field: string) => ValidateIf((o: Record<string, unknown>) => o[field] !== undefined);

// Validators run from the bottom decorator up and stop at the first error, so the type
// check sits lowest. Semantic checks (curve sizes, DNS patterns, EKU names) live in
// @certctl/domain and run in the service, naming the same field paths.

export class KeyAlgorithmRuleDto {
  @ApiProperty({ enum: KEY_ALGORITHMS, example: 'ECDSA', description: 'Case-insensitive on input' })
  @MaxLength(32)
  @IsString()
  algorithm!: KeyAlgorithm;

  @ApiPropertyOptional({
    type: 'integer',
    nullable: true,
    example: 256,
    description:
      'Minimum key size. ECDSA: curve bits 256, 384 or 521 (default 256); RSA: 2048-16384 (default 2048); Ed25519: omit.',
  })
  @IsOptional()
  @IsInt({ message: 'min_size must be an integer' })
  min_size?: number | null;
}

export class SanRulesDto implements SanRules {
  @ApiProperty({ type: [String], example: ['*.example.com', 'example.com'] }) permitted_dns_patterns!: string[];
  @ApiProperty() allow_ip!: boolean;
  @ApiProperty() allow_email!: boolean;
  @ApiProperty() allow_uri!: boolean;
  @ApiProperty({ type: 'integer', nullable: true }) max_sans!: number | null;
}

export class SanRulesInputDto {
  @ApiPropertyOptional({
    type: [String],
    example: ['*.example.com', 'example.com'],
    description:
      'DNS names the profile permits: exact names, or `*.` over at least two labels matching exactly one label. Empty permits any DNS name.',
  })
  @IsOptional()
  @MaxLength(253, { each: true })
  @IsString({ each: true, message: 'permitted_dns_patterns must be an array of strings' })
  @ArrayMaxSize(SAN_RULES_MAX_PATTERNS)
  @IsArray()
  permitted_dns_patterns?: string[];

  @ApiPropertyOptional({ default: false, description: 'Whether IP address SANs are allowed' })
  @IsOptional()
  @IsBoolean({ message: 'allow_ip must be true or false' })
  allow_ip?: boolean;

  @ApiPropertyOptional({ default: false, description: 'Whether email (rfc822Name) SANs are allowed' })
  @IsOptional()
  @IsBoolean({ message: 'allow_email must be true or false' })
  allow_email?: boolean;

  @ApiPropertyOptional({ default: false, description: 'Whether URI SANs (e.g. SPIFFE ids) are allowed' })
  @IsOptional()
  @IsBoolean({ message: 'allow_uri must be true or false' })
  allow_uri?: boolean;

  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 1, maximum: SAN_RULES_MAX_SANS })
  @IsOptional()
  @Max(SAN_RULES_MAX_SANS, { message: `max_sans must be an integer from 1 to ${SAN_RULES_MAX_SANS}` })
  @Min(1, { message: `max_sans must be an integer from 1 to ${SAN_RULES_MAX_SANS}` })
  @IsInt({ message: `max_sans must be an integer from 1 to ${SAN_RULES_MAX_SANS}` })
  max_sans?: number | null;
}

export class ProfileDto {
  @ApiProperty({ example: 'prof-tls-server' }) id!: string;
  @ApiProperty({ example: 'TLS server' }) name!: string;
  @ApiProperty({ example: 'Public-facing TLS endpoints' }) description!: string;
  @ApiProperty({ type: [KeyAlgorithmRuleDto] }) allowed_key_algorithms!: KeyAlgorithmRuleDto[];
  @ApiProperty({ type: 'integer', example: 7_776_000 }) max_ttl_seconds!: number;
  @ApiProperty({ type: [String], example: ['serverAuth'] }) allowed_ekus!: string[];
  @ApiProperty({ type: SanRulesDto }) san_rules!: SanRulesDto;
  @ApiProperty() must_staple!: boolean;
  @ApiProperty({ description: 'Issuance, renewal and edits of this profile wait for an approval' })
  requires_approval!: boolean;
  @ApiProperty({
    type: 'integer',
    minimum: 1,
    maximum: MAX_REQUIRED_APPROVALS,
    example: 1,
    description: REQUIRED_APPROVALS_DESCRIPTION,
  })
  required_approvals!: number;
  @ApiProperty({ type: [String], example: ['role-security'], description: APPROVER_ROLES_DESCRIPTION })
  approver_roles!: string[];
  @ApiProperty({ enum: ACME_AUTH_MODES, nullable: true, description: ACME_AUTH_MODE_DESCRIPTION })
  acme_auth_mode!: AcmeAuthMode | null;
  @ApiProperty({ type: Boolean, nullable: true, description: ACME_EAB_DESCRIPTION })
  acme_eab_required!: boolean | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static from(e: ProfileEntity): ProfileDto {
    return {
      id: e.id,
      name: e.name,
      description: e.description,
      allowed_key_algorithms: e.allowedKeyAlgorithms,
      max_ttl_seconds: e.maxTtlSeconds,
      allowed_ekus: e.allowedEkus,
      san_rules: e.sanRules,
      must_staple: e.mustStaple,
      requires_approval: e.requiresApproval,
      required_approvals: e.requiredApprovals,
      approver_roles: e.approverRoles,
      acme_auth_mode: e.acmeAuthMode,
      acme_eab_required: e.acmeEabRequired,
      created_at: e.createdAt.toISOString(),
      updated_at: e.updatedAt.toISOString(),
    };
  }
}

export const PROFILE_FIELDS = [
  'id',
  'name',
  'description',
  'allowed_key_algorithms',
  'max_ttl_seconds',
  'allowed_ekus',
  'san_rules',
  'must_staple',
  'requires_approval',
  'required_approvals',
  'approver_roles',
  'acme_auth_mode',
  'acme_eab_required',
  'created_at',
  'updated_at',
] as const;

const EKU_DESCRIPTION = `Names (${Object.keys(EKU_OIDS).join(', ')}; case-insensitive) or dotted OIDs. Default: ${DEFAULT_EKUS.join(', ')}.`;

export class CreateProfileDto {
  @ApiPropertyOptional({
    example: 'prof-tls-server',
    description: 'Client-chosen id; generated (`prof-…`) when absent',
  })
  @IsOptional()
  @IsClientId()
  @IsString()
  id?: string;

  @ApiProperty({ example: 'TLS server', description: 'Unique' })
  @Matches(NOT_BLANK, { message: 'name must not be blank' })
  @MaxLength(200)
  @IsString()
  name!: string;

  @ApiPropertyOptional({ example: 'Public-facing TLS endpoints' })
  @IsOptional()
  @MaxLength(2000)
  @IsString()
  description?: string;

  @ApiProperty({ type: [KeyAlgorithmRuleDto], description: 'At least one; each algorithm once' })
  @ValidateNested({ each: true })
  @Type(() => KeyAlgorithmRuleDto)
  @IsObject({ each: true, message: 'allowed_key_algorithms must be an array of {algorithm, min_size} objects' })
  @ArrayMaxSize(3)
  @ArrayMinSize(1, { message: 'allowed_key_algorithms must list at least one key algorithm' })
  @IsArray()
  allowed_key_algorithms!: KeyAlgorithmRuleDto[];

  @ApiProperty({ type: 'integer', minimum: 1, maximum: PROFILE_MAX_TTL_SECONDS, example: 7_776_000 })
  @Max(PROFILE_MAX_TTL_SECONDS, { message: TTL_MESSAGE })
  @Min(1, { message: TTL_MESSAGE })
  @IsInt({ message: TTL_MESSAGE })
  max_ttl_seconds!: number;

  @ApiPropertyOptional({ type: [String], example: ['serverAuth', 'clientAuth'], description: EKU_DESCRIPTION })
  @IsOptional()
  @MaxLength(128, { each: true })
  @IsString({ each: true, message: 'allowed_ekus must be an array of strings' })
  @ArrayMaxSize(32)
  @IsArray()
  allowed_ekus?: string[];

  @ApiPropertyOptional({ type: SanRulesInputDto, description: 'Absent fields take their defaults' })
  @IsOptional()
  @ValidateNested()
  @Type(() => SanRulesInputDto)
  @IsObject({ message: 'san_rules must be an object' })
  san_rules?: SanRulesInputDto;

  @ApiPropertyOptional({ default: false, description: 'Add the TLS feature (OCSP must-staple) extension' })
  @IsOptional()
  @IsBoolean({ message: 'must_staple must be true or false' })
  must_staple?: boolean;

  @ApiPropertyOptional({ default: false, description: 'Gate issuance and renewal on an approval' })
  @IsOptional()
  @IsBoolean({ message: 'requires_approval must be true or false' })
  requires_approval?: boolean;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: MAX_REQUIRED_APPROVALS,
    default: 1,
    description: REQUIRED_APPROVALS_DESCRIPTION,
  })
  @IsOptional()
  @Max(MAX_REQUIRED_APPROVALS, { message: REQUIRED_APPROVALS_MESSAGE })
  @Min(1, { message: REQUIRED_APPROVALS_MESSAGE })
  @IsInt({ message: REQUIRED_APPROVALS_MESSAGE })
  required_approvals?: number;

  @ApiPropertyOptional({
    type: [String],
    default: [],
    example: ['role-security'],
    description: APPROVER_ROLES_DESCRIPTION,
  })
  @IsOptional()
  @IsClientId({ each: true })
  @IsString({ each: true, message: 'approver_roles must be an array of role ids' })
  @ArrayMaxSize(MAX_APPROVER_ROLES)
  @IsArray({ message: 'approver_roles must be an array of role ids' })
  approver_roles?: string[];

  @ApiPropertyOptional({ enum: ACME_AUTH_MODES, nullable: true, description: ACME_AUTH_MODE_DESCRIPTION })
  @IsOptional()
  @IsIn(ACME_AUTH_MODES, { message: ACME_AUTH_MODE_MESSAGE })
  acme_auth_mode?: AcmeAuthMode | null;

  @ApiPropertyOptional({ type: Boolean, nullable: true, description: ACME_EAB_DESCRIPTION })
  @IsOptional()
  @IsBoolean({ message: 'acme_eab_required must be true, false or null' })
  acme_eab_required?: boolean | null;
}

/** Partial update: absent fields keep their value; lists and san_rules are replaced whole. */
export class UpdateProfileDto {
  @ApiPropertyOptional({ example: 'TLS server' })
  @Present('name')
  @Matches(NOT_BLANK, { message: 'name must not be blank' })
  @MaxLength(200)
  @IsString()
  name?: string;

  @ApiPropertyOptional()
  @Present('description')
  @MaxLength(2000)
  @IsString()
  description?: string;

  @ApiPropertyOptional({ type: [KeyAlgorithmRuleDto] })
  @Present('allowed_key_algorithms')
  @ValidateNested({ each: true })
  @Type(() => KeyAlgorithmRuleDto)
  @IsObject({ each: true, message: 'allowed_key_algorithms must be an array of {algorithm, min_size} objects' })
  @ArrayMaxSize(3)
  @ArrayMinSize(1, { message: 'allowed_key_algorithms must list at least one key algorithm' })
  @IsArray()
  allowed_key_algorithms?: KeyAlgorithmRuleDto[];

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: PROFILE_MAX_TTL_SECONDS })
  @Present('max_ttl_seconds')
  @Max(PROFILE_MAX_TTL_SECONDS, { message: TTL_MESSAGE })
  @Min(1, { message: TTL_MESSAGE })
  @IsInt({ message: TTL_MESSAGE })
  max_ttl_seconds?: number;

  @ApiPropertyOptional({ type: [String], description: EKU_DESCRIPTION })
  @Present('allowed_ekus')
  @MaxLength(128, { each: true })
  @IsString({ each: true, message: 'allowed_ekus must be an array of strings' })
  @ArrayMaxSize(32)
  @IsArray()
  allowed_ekus?: string[];

  @ApiPropertyOptional({ type: SanRulesInputDto, description: 'Replaces the SAN rules; absent fields take defaults' })
  @Present('san_rules')
  @ValidateNested()
  @Type(() => SanRulesInputDto)
  @IsObject({ message: 'san_rules must be an object' })
  san_rules?: SanRulesInputDto;

  @ApiPropertyOptional()
  @Present('must_staple')
  @IsBoolean({ message: 'must_staple must be true or false' })
  must_staple?: boolean;

  @ApiPropertyOptional()
  @Present('requires_approval')
  @IsBoolean({ message: 'requires_approval must be true or false' })
  requires_approval?: boolean;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: MAX_REQUIRED_APPROVALS,
    description: REQUIRED_APPROVALS_DESCRIPTION,
  })
  @Present('required_approvals')
  @Max(MAX_REQUIRED_APPROVALS, { message: REQUIRED_APPROVALS_MESSAGE })
  @Min(1, { message: REQUIRED_APPROVALS_MESSAGE })
  @IsInt({ message: REQUIRED_APPROVALS_MESSAGE })
  required_approvals?: number;

  @ApiPropertyOptional({
    type: [String],
    example: ['role-security'],
    description: `${APPROVER_ROLES_DESCRIPTION} Replaces the list; [] clears it.`,
  })
  @Present('approver_roles')
  @IsClientId({ each: true })
  @IsString({ each: true, message: 'approver_roles must be an array of role ids' })
  @ArrayMaxSize(MAX_APPROVER_ROLES)
  @IsArray({ message: 'approver_roles must be an array of role ids' })
  approver_roles?: string[];

  @ApiPropertyOptional({ enum: ACME_AUTH_MODES, nullable: true, description: ACME_AUTH_MODE_DESCRIPTION })
  @IsOptional()
  @IsIn(ACME_AUTH_MODES, { message: ACME_AUTH_MODE_MESSAGE })
  acme_auth_mode?: AcmeAuthMode | null;

  @ApiPropertyOptional({ type: Boolean, nullable: true, description: ACME_EAB_DESCRIPTION })
  @IsOptional()
  @IsBoolean({ message: 'acme_eab_required must be true, false or null' })
  acme_eab_required?: boolean | null;
}

export class ProfileListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ description: 'Case-insensitive substring of the name' })
  @IsOptional()
  @MaxLength(200)
  @IsString()
  q?: string;
}

/** 202 to a PUT on a gated profile: nothing changed yet; the edit waits for approval. */
export class ProfileEditPendingDto {
  @ApiProperty({
    example: 'ar-3kq9w2m1x8zt',
    description: 'The profile_edit approval request; GET /api/v1/approvals/{id} shows it',
  })
  pending_approval_id!: string;
}

export class ProfilePageDto extends PageOf(ProfileDto, 'ProfilePage') {}
