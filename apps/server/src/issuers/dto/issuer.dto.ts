import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsObject, IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import { IssuerType, parseEnum } from '@certctl/domain';
import { redactConfig } from '@certctl/connectors';
import { ListQueryDto } from '../../http/list-query.dto';
import { PageOf } from '../../http/page.dto';
import type { IssuerEntity } from '../issuer.entity';
import { IsClientId } from '../../http/dto-fields';

export const ISSUER_TYPES = Object.values(IssuerType);
const TYPE_MESSAGE = `type must be one of: ${ISSUER_TYPES.join(', ')} (case-insensitive)`;

/** 'localca' -> 'LocalCA'; anything unknown is left for @IsIn to reject. */
const toIssuerType = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? (parseEnum(IssuerType, value) ?? value) : value;

const toBoolean = ({ value }: { value: unknown }): unknown =>
  value === 'true' ? true : value === 'false' ? false : value;

const CONFIG_DOC =
  "Per-type settings, validated against the type's schema (unknown fields are rejected). Secret fields " +
  '(tokens, passwords, keys) are sealed at rest and read back as "[REDACTED]"; on update, "[REDACTED]" or ' +
  'an omitted secret keeps the stored value, a new value replaces it, null clears it.';

export class IssuerDto {
  @ApiProperty({ example: 'iss-local' }) id!: string;
  @ApiProperty({ example: 'Corporate Local CA' }) name!: string;
  @ApiProperty({ enum: ISSUER_TYPES, enumName: 'IssuerType', example: 'LocalCA' }) type!: IssuerType;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'Non-secret settings as stored; each secret that is set reads "[REDACTED]".',
    example: { address: 'https://vault.example.com:8200', mount: 'pki', role: 'web', token: '[REDACTED]' },
  })
  config!: Record<string, unknown>;
  @ApiProperty() enabled!: boolean;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static from(e: IssuerEntity): IssuerDto {
    return {
      id: e.id,
      name: e.name,
      type: e.type,
      config: redactConfig(e.config, e.secretFields),
      enabled: e.enabled,
      created_at: e.createdAt.toISOString(),
      updated_at: e.updatedAt.toISOString(),
    };
  }
}

export const ISSUER_FIELDS = ['id', 'name', 'type', 'config', 'enabled', 'created_at', 'updated_at'] as const;

export class CreateIssuerDto {
  @ApiPropertyOptional({ example: 'iss-vault-prod', description: 'Client-chosen id; generated (iss-...) when absent' })
  @IsOptional()
  @IsClientId()
  id?: string;

  @ApiProperty({ example: 'Vault PKI (prod)' })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name!: string;

  @ApiProperty({ enum: ISSUER_TYPES, enumName: 'IssuerType', description: 'Case-insensitive on input' })
  @Transform(toIssuerType)
  @IsIn(ISSUER_TYPES, { message: TYPE_MESSAGE })
  type!: IssuerType;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: CONFIG_DOC, default: {} })
  @IsOptional()
  @IsObject({ message: 'config must be a JSON object' })
  config?: Record<string, unknown>;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean({ message: 'enabled must be true or false' })
  enabled?: boolean;
}

export class UpdateIssuerDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @MinLength(1) @MaxLength(200) name?: string;

  @ApiPropertyOptional({
    enum: ISSUER_TYPES,
    enumName: 'IssuerType',
    description: 'Changing the type re-validates the whole config against the new type',
  })
  @IsOptional()
  @Transform(toIssuerType)
  @IsIn(ISSUER_TYPES, { message: TYPE_MESSAGE })
  type?: IssuerType;

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

export class IssuerListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ description: 'Case-insensitive substring of the name' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  q?: string;

  @ApiPropertyOptional({ enum: ISSUER_TYPES, enumName: 'IssuerType', description: 'Only this type (case-insensitive)' })
  @IsOptional()
  @Transform(toIssuerType)
  @IsIn(ISSUER_TYPES, { message: TYPE_MESSAGE })
  type?: IssuerType;

  @ApiPropertyOptional({ type: Boolean, description: 'Only enabled (true) or disabled (false) issuers' })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'enabled must be true or false' })
  enabled?: boolean;
}

export class IssuerPageDto extends PageOf(IssuerDto, 'IssuerPage') {}

export class IssuerTestResultDto {
  @ApiProperty({ description: 'Whether the connector accepted the configuration (and, where it can, reached the CA)' })
  ok!: boolean;
  @ApiProperty({ example: 'ACME connector is not available yet' }) message!: string;
  @ApiProperty({ format: 'date-time' }) checked_at!: string;
}
