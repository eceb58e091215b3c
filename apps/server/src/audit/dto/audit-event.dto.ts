import { ApiProperty, ApiPropertyOptional, IntersectionType } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsOptional, IsString, MaxLength } from 'class-validator';
import { ListQueryDto } from '../../http/list-query.dto';
import type { AuditEventEntity } from '../audit-event.entity';

export class AuditEventDto {
  @ApiProperty({ example: 'audit-7k2m9q4r8t1v' }) id!: string;
  @ApiProperty({ enum: ['api', 'domain', 'system'] }) category!: string;
  @ApiProperty({ example: 'ak-admin' }) actor!: string;
  @ApiProperty({ example: 'ApiKey' }) actor_type!: string;
  @ApiProperty({ example: 'api_call' }) action!: string;
  @ApiProperty({ example: 'http' }) resource_type!: string;
  @ApiProperty({ example: 'GET /api/v1/auth/me' }) resource_id!: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) details!: Record<string, unknown>;
  @ApiProperty({ format: 'date-time' }) timestamp!: string;

  static from(e: AuditEventEntity): AuditEventDto {
    return {
      id: e.id,
      category: e.category,
      actor: e.actor,
      actor_type: e.actorType,
      action: e.action,
      resource_type: e.resourceType,
      resource_id: e.resourceId,
      details: e.details,
      timestamp: e.createdAt.toISOString(),
    };
  }
}

export const AUDIT_EVENT_FIELDS = [
  'id',
  'category',
  'actor',
  'actor_type',
  'action',
  'resource_type',
  'resource_id',
  'details',
  'timestamp',
] as const;

export class AuditFilterDto {
  @ApiPropertyOptional({ enum: ['api', 'domain', 'system'] })
  @IsOptional()
  @IsIn(['api', 'domain', 'system'])
  category?: 'api' | 'domain' | 'system';

  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) actor?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) action?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) resource_type?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(500) resource_id?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Only events at or after this time (RFC 3339).' })
  @IsOptional()
  @IsISO8601({ strict: true })
  since?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Only events before this time (RFC 3339).' })
  @IsOptional()
  @IsISO8601({ strict: true })
  until?: string;
}

/** List = filters + the list conventions (mixins keep one declaration of each filter). */
export class AuditListQueryDto extends IntersectionType(AuditFilterDto, ListQueryDto) {}

export class AuditExportQueryDto extends AuditFilterDto {
  @ApiPropertyOptional({ enum: ['csv', 'json'], default: 'json' })
  @IsOptional()
  @IsIn(['csv', 'json'])
  format?: 'csv' | 'json';
}

export class AuditEventPageDto {
  @ApiProperty({ type: [AuditEventDto] }) data!: AuditEventDto[];
  @ApiProperty() total!: number;
  @ApiPropertyOptional() page?: number;
  @ApiPropertyOptional() per_page?: number;
  @ApiPropertyOptional({ nullable: true, type: String }) next_cursor?: string | null;
  @ApiPropertyOptional() page_size?: number;
}
