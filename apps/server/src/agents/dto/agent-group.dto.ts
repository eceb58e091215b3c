import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { ListQueryDto } from '../../http/list-query.dto';
import { PageOf } from '../../http/page.dto';
import type { AgentGroupEntity } from '../agent-group.entity';
import { IsCidrList, VERSION_PATTERN, type MatchCriteria } from '../match-criteria';
import { AGENT_FIELDS, AgentDto } from './agent.dto';
import { IsClientId } from '../../http/dto-fields';

export class MatchCriteriaDto implements MatchCriteria {
  @ApiPropertyOptional({ type: [String], example: ['linux'], description: 'Any of these (case-insensitive)' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @IsString({ each: true })
  @MaxLength(64, { each: true })
  os?: string[];

  @ApiPropertyOptional({ type: [String], example: ['amd64', 'arm64'], description: 'Any of these (case-insensitive)' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @IsString({ each: true })
  @MaxLength(64, { each: true })
  architecture?: string[];

  @ApiPropertyOptional({
    type: [String],
    example: ['10.0.0.0/8', '2001:db8::/32'],
    description: 'The agent IP lies in any of these IPv4/IPv6 CIDRs',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsCidrList()
  ip_cidrs?: string[];

  @ApiPropertyOptional({ example: '1.4.*', description: 'Exact version, or a prefix ending in `*` (`1.4.*`)' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  @Matches(VERSION_PATTERN, {
    message: 'version must be an exact version (1.4.2) or a prefix ending in * (1.4.*); only a trailing * is allowed',
  })
  version?: string;
}

export class AgentGroupDto {
  @ApiProperty({ example: 'agg-linux-edge' }) id!: string;
  @ApiProperty({ example: 'Linux edge' }) name!: string;
  @ApiProperty({ example: 'Edge proxies on Linux' }) description!: string;
  @ApiProperty({ type: MatchCriteriaDto }) match_criteria!: MatchCriteria;
  @ApiProperty({ type: [String], description: 'Agents always in the group (unless excluded)' })
  include_agent_ids!: string[];
  @ApiProperty({ type: [String], description: 'Agents never in the group' }) exclude_agent_ids!: string[];
  @ApiProperty() enabled!: boolean;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  /** include/exclude ids are filled by the repository (they live in agent_group_members). */
  static from(e: AgentGroupEntity, includes: string[] = [], excludes: string[] = []): AgentGroupDto {
    return {
      id: e.id,
      name: e.name,
      description: e.description,
      match_criteria: e.matchCriteria,
      include_agent_ids: includes,
      exclude_agent_ids: excludes,
      enabled: e.enabled,
      created_at: e.createdAt.toISOString(),
      updated_at: e.updatedAt.toISOString(),
    };
  }
}

export const AGENT_GROUP_FIELDS = [
  'id',
  'name',
  'description',
  'match_criteria',
  'include_agent_ids',
  'exclude_agent_ids',
  'enabled',
  'created_at',
  'updated_at',
] as const;

/** A list of agent ids (each must exist: the service checks). */
const AgentIdList = (): PropertyDecorator =>
  applyDecorators(
    IsOptional(),
    IsArray(),
    ArrayMaxSize(1000),
    IsString({ each: true }),
    MaxLength(128, { each: true }),
  );

export class CreateAgentGroupDto {
  @ApiPropertyOptional({ example: 'agg-linux-edge', description: 'Client-chosen id; generated (`agg-…`) when absent' })
  @IsOptional()
  @IsClientId()
  id?: string;

  @ApiProperty({ example: 'Linux edge' })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name!: string;

  @ApiPropertyOptional({ example: 'Edge proxies on Linux' })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  description?: string;

  @ApiPropertyOptional({
    type: MatchCriteriaDto,
    description: 'All given criteria must match; none: no dynamic members',
  })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => MatchCriteriaDto)
  match_criteria?: MatchCriteriaDto;

  @ApiPropertyOptional({ type: [String], example: ['ag-web-01'], description: 'Existing agents to always include' })
  @AgentIdList()
  include_agent_ids?: string[];

  @ApiPropertyOptional({ type: [String], example: ['ag-canary'], description: 'Existing agents to always exclude' })
  @AgentIdList()
  exclude_agent_ids?: string[];

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

/** Partial update: given fields replace the stored ones (match_criteria and id lists as a whole). */
export class UpdateAgentGroupDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @MinLength(1) @MaxLength(200) name?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(2000) description?: string;

  @ApiPropertyOptional({ type: MatchCriteriaDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => MatchCriteriaDto)
  match_criteria?: MatchCriteriaDto;

  @ApiPropertyOptional({ type: [String] })
  @AgentIdList()
  include_agent_ids?: string[];

  @ApiPropertyOptional({ type: [String] })
  @AgentIdList()
  exclude_agent_ids?: string[];

  @ApiPropertyOptional() @IsOptional() @IsBoolean() enabled?: boolean;
}

const toBoolean = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  return v === 'true' ? true : v === 'false' ? false : value;
};

export class AgentGroupListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ description: 'Case-insensitive substring of the name' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  q?: string;

  @ApiPropertyOptional({ type: Boolean })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'enabled must be true or false' })
  enabled?: boolean;
}

export type Membership = 'dynamic' | 'include';

export class AgentGroupMemberDto extends AgentDto {
  @ApiProperty({
    enum: ['dynamic', 'include'],
    description: '`include`: listed in include_agent_ids; `dynamic`: matched by match_criteria',
  })
  membership!: Membership;
}

export const AGENT_GROUP_MEMBER_FIELDS = [...AGENT_FIELDS, 'membership'] as const;

export class AgentGroupPageDto extends PageOf(AgentGroupDto, 'AgentGroupPage') {}
export class AgentGroupMemberPageDto extends PageOf(AgentGroupMemberDto, 'AgentGroupMemberPage') {}
