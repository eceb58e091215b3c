import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsObject, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { CLIENT_ID_PATTERN, parseEnum, TargetType } from '@certctl/domain';
import { redactConfig } from '@certctl/connectors';
import { ListQueryDto } from '../../http/list-query.dto';
import { PageOf } from '../../http/page.dto';
import type { TargetEntity } from '../target.entity';

export const TARGET_TYPES = Object.values(TargetType);
const TYPE_MESSAGE = `type must be one of: ${TARGET_TYPES.join(', ')} (case-insensitive)`;

/** 'nginx' -> 'NGINX'; anything unknown is left for @IsIn to reject. */
const toTargetType = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? (parseEnum(TargetType, value) ?? value) : value;

const toBoolean = ({ value }: { value: unknown }): unknown =>
  value === 'true' ? true : value === 'false' ? false : value;

const CONFIG_DOC =
  "Per-type settings, validated against the type's schema (unknown fields are rejected). Secret fields " +
  '(passwords, private keys, kubeconfigs) are sealed at rest and read back as "[REDACTED]"; on update, ' +
  '"[REDACTED]" or an omitted secret keeps the stored value, a new value replaces it, null clears it.';

const AGENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class TargetDto {
  @ApiProperty({ example: 't-web-01-nginx' }) id!: string;
  @ApiProperty({ example: 'web-01 nginx' }) name!: string;
  @ApiProperty({ enum: TARGET_TYPES, enumName: 'TargetType', example: 'NGINX' }) type!: TargetType;
  @ApiProperty({ type: String, nullable: true, example: 'ag-web-01', description: 'The agent that deploys here' })
  agent_id!: string | null;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'Non-secret settings as stored; each secret that is set reads "[REDACTED]".',
    example: {
      cert_path: '/etc/nginx/ssl/site.crt',
      key_path: '/etc/nginx/ssl/site.key',
      reload_command: ['nginx', '-s', 'reload'],
    },
  })
  config!: Record<string, unknown>;
  @ApiProperty() enabled!: boolean;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) retired_at!: string | null;
  @ApiProperty({ type: String, nullable: true }) retired_reason!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static from(e: TargetEntity): TargetDto {
    return {
      id: e.id,
      name: e.name,
      type: e.type,
      agent_id: e.agentId,
      config: redactConfig(e.config, e.secretFields),
      enabled: e.enabled,
      retired_at: e.retiredAt?.toISOString() ?? null,
      retired_reason: e.retiredReason,
      created_at: e.createdAt.toISOString(),
      updated_at: e.updatedAt.toISOString(),
    };
  }
}

export const TARGET_FIELDS = [
  'id',
  'name',
  'type',
  'agent_id',
  'config',
  'enabled',
  'retired_at',
  'retired_reason',
  'created_at',
  'updated_at',
] as const;

export class CreateTargetDto {
  @ApiPropertyOptional({ example: 't-web-01-nginx', description: 'Client-chosen id; generated (t-...) when absent' })
  @IsOptional()
  @Matches(CLIENT_ID_PATTERN, { message: 'id must be 1-128 lowercase letters, digits, . _ - (starting alphanumeric)' })
  id?: string;

  @ApiProperty({ example: 'web-01 nginx', description: 'Unique among the live targets of its agent' })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name!: string;

  @ApiProperty({ enum: TARGET_TYPES, enumName: 'TargetType', description: 'Case-insensitive on input' })
  @Transform(toTargetType)
  @IsIn(TARGET_TYPES, { message: TYPE_MESSAGE })
  type!: TargetType;

  @ApiProperty({ example: 'ag-web-01', description: 'An existing, not retired agent that deploys to this target' })
  @IsString({ message: 'agent_id must be a string' })
  @Matches(AGENT_ID_PATTERN, { message: 'agent_id must be an agent id' })
  agent_id!: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: CONFIG_DOC, default: {} })
  @IsOptional()
  @IsObject({ message: 'config must be a JSON object' })
  config?: Record<string, unknown>;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean({ message: 'enabled must be true or false' })
  enabled?: boolean;
}

export class UpdateTargetDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @MinLength(1) @MaxLength(200) name?: string;

  @ApiPropertyOptional({
    enum: TARGET_TYPES,
    enumName: 'TargetType',
    description: 'Changing the type re-validates the whole config against the new type',
  })
  @IsOptional()
  @Transform(toTargetType)
  @IsIn(TARGET_TYPES, { message: TYPE_MESSAGE })
  type?: TargetType;

  @ApiPropertyOptional({ description: 'Move the target to another existing, not retired agent' })
  @IsOptional()
  @IsString({ message: 'agent_id must be a string' })
  @Matches(AGENT_ID_PATTERN, { message: 'agent_id must be an agent id' })
  agent_id?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: `Replaces the stored settings when given (omitted: unchanged). ${CONFIG_DOC}`,
  })
  @IsOptional()
  @IsObject({ message: 'config must be a JSON object' })
  config?: Record<string, unknown>;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean({ message: 'enabled must be true or false' })
  enabled?: boolean;
}

export class TargetListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ description: 'Case-insensitive substring of the name' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  q?: string;

  @ApiPropertyOptional({ enum: TARGET_TYPES, enumName: 'TargetType', description: 'Only this type (case-insensitive)' })
  @IsOptional()
  @Transform(toTargetType)
  @IsIn(TARGET_TYPES, { message: TYPE_MESSAGE })
  type?: TargetType;

  @ApiPropertyOptional({ description: 'Only the targets of this agent' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  agent_id?: string;

  @ApiPropertyOptional({ type: Boolean, description: 'Only enabled (true) or disabled (false) targets' })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'enabled must be true or false' })
  enabled?: boolean;

  @ApiPropertyOptional({ type: Boolean, default: false, description: 'Include retired targets' })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'include_retired must be true or false' })
  include_retired?: boolean;
}

export class RetireTargetQueryDto {
  @ApiPropertyOptional({ description: 'Why the target is retired (kept on the row and in the audit trail)' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(500)
  reason?: string;
}

export class TargetPageDto extends PageOf(TargetDto, 'TargetPage') {}

export class TargetTestResultDto {
  @ApiProperty({ description: 'The config is valid and the target is live with an online agent' })
  ok!: boolean;
  @ApiProperty({
    example: 'configuration is valid; agent "ag-web-01" is online (last heartbeat 2026-01-01T00:00:00.000Z)',
  })
  message!: string;
  @ApiProperty({ format: 'date-time' }) checked_at!: string;
}
