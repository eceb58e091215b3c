import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsObject, IsOptional, IsString, Matches, MaxLength, ValidateIf } from 'class-validator';
import { parseEnum, PolicyRuleType, Severity } from '@certctl/domain';
import { ListQueryDto } from '../../http/list-query.dto';
import { PageOf } from '../../http/page.dto';
import type { PolicyRuleEntity, PolicyViolationEntity } from '../policy.entity';
import { IsClientId } from '../../http/dto-fields';

const NOT_BLANK = /\S/;
const TYPES = Object.values(PolicyRuleType);
const SEVERITIES = Object.values(Severity);
/** Optional, but when present never null (the column is NOT NULL). */
const Present = (field: string) => ValidateIf((o: Record<string, unknown>) => o[field] !== undefined);

/** Case-insensitive enum input (`maxvalidity` -> `MaxValidity`); non-members stay and fail validation. */
const toEnum =
  <T extends Record<string, string>>(e: T) =>
  ({ value }: { value: unknown }): unknown =>
    typeof value === 'string' ? (parseEnum(e, value) ?? value) : value;

/** Query strings only: `true`/`false` (any case) become booleans, anything else stays and fails validation. */
const toBoolean = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  return v === 'true' ? true : v === 'false' ? false : value;
};

const CONFIG_DESCRIPTION = [
  'Per type:',
  'KeyAlgorithm `{allowed: [{algorithm, min_size}]}`;',
  'MaxValidity `{max_days}` (1-3650, compared with the latest version);',
  'RequiredSanPattern `{pattern}` (a regular expression every name must match; anchored and case-insensitive);',
  'ForbiddenWildcard `{}`; OwnerRequired `{}`;',
  'AllowedIssuers `{issuer_ids: [...]}` (existing issuers);',
  'AllowedEnvironments `{environments: [...]}` (case-insensitive);',
  'RequiredTags `{tags: [...]}` (tag keys that must have a non-blank value).',
].join(' ');

export class PolicyRuleDto {
  @ApiProperty({ example: 'pol-max-validity' }) id!: string;
  @ApiProperty({ example: 'Public TLS max 397 days' }) name!: string;
  @ApiProperty({ enum: TYPES, example: 'MaxValidity' }) type!: PolicyRuleType;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: { max_days: 397 },
    description: CONFIG_DESCRIPTION,
  })
  config!: Record<string, unknown>;
  @ApiProperty({ enum: SEVERITIES, example: 'warning' }) severity!: Severity;
  @ApiProperty() enabled!: boolean;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static from(e: PolicyRuleEntity): PolicyRuleDto {
    return {
      id: e.id,
      name: e.name,
      type: e.type,
      config: e.config,
      severity: e.severity,
      enabled: e.enabled,
      created_at: e.createdAt.toISOString(),
      updated_at: e.updatedAt.toISOString(),
    };
  }
}

export const POLICY_RULE_FIELDS = [
  'id',
  'name',
  'type',
  'config',
  'severity',
  'enabled',
  'created_at',
  'updated_at',
] as const;

export class PolicyViolationDto {
  @ApiProperty({ example: 'pv-7k2m9q4x8w1z' }) id!: string;
  @ApiProperty({ example: 'mc-api-prod' }) certificate_id!: string;
  @ApiProperty({ example: 'pol-max-validity' }) rule_id!: string;
  @ApiProperty({ example: 'validity of 398 days exceeds the maximum of 397 days' }) message!: string;
  @ApiProperty({ enum: SEVERITIES }) severity!: Severity;
  @ApiProperty({ format: 'date-time', description: 'When this finding (with this message) was first recorded' })
  created_at!: string;

  static from(e: PolicyViolationEntity): PolicyViolationDto {
    return {
      id: e.id,
      certificate_id: e.certificateId,
      rule_id: e.ruleId,
      message: e.message,
      severity: e.severity,
      created_at: e.createdAt.toISOString(),
    };
  }
}

export const POLICY_VIOLATION_FIELDS = [
  'id',
  'certificate_id',
  'rule_id',
  'message',
  'severity',
  'created_at',
] as const;

export class CreatePolicyRuleDto {
  @ApiPropertyOptional({
    example: 'pol-max-validity',
    description: 'Client-chosen id; generated (`pol-…`) when absent',
  })
  @IsOptional()
  @IsClientId()
  @IsString()
  id?: string;

  @ApiProperty({ example: 'Public TLS max 397 days', description: 'Unique' })
  @Matches(NOT_BLANK, { message: 'name must not be blank' })
  @MaxLength(200)
  @IsString()
  name!: string;

  @ApiProperty({ enum: TYPES, description: 'Case-insensitive' })
  @IsIn(TYPES, { message: `type must be one of ${TYPES.join(', ')}` })
  @Transform(toEnum(PolicyRuleType))
  type!: PolicyRuleType;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { max_days: 397 },
    description: `${CONFIG_DESCRIPTION} Default {}.`,
  })
  @IsOptional()
  @IsObject({ message: 'config must be an object' })
  config?: Record<string, unknown>;

  @ApiPropertyOptional({ enum: SEVERITIES, default: 'warning', description: 'Case-insensitive' })
  @IsOptional()
  @IsIn(SEVERITIES, { message: `severity must be one of ${SEVERITIES.join(', ')}` })
  @Transform(toEnum(Severity))
  severity?: Severity;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean({ message: 'enabled must be true or false' })
  enabled?: boolean;
}

/** Partial update: absent fields keep their value; a new type needs a config valid for it. */
export class UpdatePolicyRuleDto {
  @ApiPropertyOptional()
  @Present('name')
  @Matches(NOT_BLANK, { message: 'name must not be blank' })
  @MaxLength(200)
  @IsString()
  name?: string;

  @ApiPropertyOptional({ enum: TYPES, description: 'Case-insensitive' })
  @Present('type')
  @IsIn(TYPES, { message: `type must be one of ${TYPES.join(', ')}` })
  @Transform(toEnum(PolicyRuleType))
  type?: PolicyRuleType;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: CONFIG_DESCRIPTION })
  @Present('config')
  @IsObject({ message: 'config must be an object' })
  config?: Record<string, unknown>;

  @ApiPropertyOptional({ enum: SEVERITIES, description: 'Case-insensitive' })
  @Present('severity')
  @IsIn(SEVERITIES, { message: `severity must be one of ${SEVERITIES.join(', ')}` })
  @Transform(toEnum(Severity))
  severity?: Severity;

  @ApiPropertyOptional({ description: 'Disabling clears the rule’s violations; enabling re-evaluates' })
  @Present('enabled')
  @IsBoolean({ message: 'enabled must be true or false' })
  enabled?: boolean;
}

export class PolicyRuleListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ description: 'Case-insensitive substring of the name' })
  @IsOptional()
  @MaxLength(200)
  @IsString()
  q?: string;

  @ApiPropertyOptional({ enum: TYPES, description: 'Case-insensitive' })
  @IsOptional()
  @IsIn(TYPES, { message: `type must be one of ${TYPES.join(', ')}` })
  @Transform(toEnum(PolicyRuleType))
  type?: PolicyRuleType;

  @ApiPropertyOptional({ enum: SEVERITIES, description: 'Case-insensitive' })
  @IsOptional()
  @IsIn(SEVERITIES, { message: `severity must be one of ${SEVERITIES.join(', ')}` })
  @Transform(toEnum(Severity))
  severity?: Severity;

  @ApiPropertyOptional({ type: Boolean })
  @IsOptional()
  @IsBoolean({ message: 'enabled must be true or false' })
  @Transform(toBoolean)
  enabled?: boolean;
}

export class PolicyViolationListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ example: 'mc-api-prod', description: 'Only this certificate’s violation' })
  @IsOptional()
  @MaxLength(128)
  @IsString()
  certificate_id?: string;

  @ApiPropertyOptional({ enum: SEVERITIES, description: 'Case-insensitive' })
  @IsOptional()
  @IsIn(SEVERITIES, { message: `severity must be one of ${SEVERITIES.join(', ')}` })
  @Transform(toEnum(Severity))
  severity?: Severity;
}

export class PolicyRulePageDto extends PageOf(PolicyRuleDto, 'PolicyRulePage') {}
export class PolicyViolationPageDto extends PageOf(PolicyViolationDto, 'PolicyViolationPage') {}
