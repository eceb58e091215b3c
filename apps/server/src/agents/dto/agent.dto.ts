import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import { AgentStatus, parseEnum } from '@certctl/domain';
import { ListQueryDto } from '../../http/list-query.dto';
import { PageOf } from '../../http/page.dto';
import type { AgentEntity } from '../agent.entity';
import { IsInetAddressOrEmpty } from '../match-criteria';
import { IsClientId } from '../../http/dto-fields';

const STATUSES = Object.values(AgentStatus);
const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export class AgentDto {
  @ApiProperty({ example: 'ag-nginx-prod-01' }) id!: string;
  @ApiProperty({ example: 'nginx-prod-01' }) name!: string;
  @ApiProperty({ example: 'web01.example.internal' }) hostname!: string;
  @ApiProperty({ enum: STATUSES }) status!: AgentStatus;
  @ApiProperty({ example: 'linux', description: 'Reported by heartbeat; empty until the first one' }) os!: string;
  @ApiProperty({ example: 'amd64' }) architecture!: string;
  @ApiProperty({ example: '10.0.4.17' }) ip_address!: string;
  @ApiProperty({ example: '1.4.2', description: 'Agent software version' }) version!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) last_heartbeat_at!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'Set once the agent is retired' })
  retired_at!: string | null;
  @ApiProperty({ type: String, nullable: true }) retired_reason!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static from(e: AgentEntity): AgentDto {
    return {
      id: e.id,
      name: e.name,
      hostname: e.hostname,
      status: e.status,
      os: e.os,
      architecture: e.architecture,
      ip_address: e.ipAddress,
      version: e.version,
      last_heartbeat_at: iso(e.lastHeartbeatAt),
      retired_at: iso(e.retiredAt),
      retired_reason: e.retiredReason,
      created_at: e.createdAt.toISOString(),
      updated_at: e.updatedAt.toISOString(),
    };
  }
}

export const AGENT_FIELDS = [
  'id',
  'name',
  'hostname',
  'status',
  'os',
  'architecture',
  'ip_address',
  'version',
  'last_heartbeat_at',
  'retired_at',
  'retired_reason',
  'created_at',
  'updated_at',
] as const;

export class RegisteredAgentDto extends AgentDto {
  @ApiProperty({
    example: 'cc_2m3k…',
    description: 'The agent’s API key, shown exactly once: configure the agent with it (CERTCTL_API_KEY)',
  })
  api_key!: string;
}

export class RegisterAgentDto {
  @ApiPropertyOptional({ example: 'ag-nginx-prod-01', description: 'Client-chosen id; generated (`ag-…`) when absent' })
  @IsOptional()
  @IsClientId()
  id?: string;

  @ApiProperty({ example: 'nginx-prod-01', description: 'Unique among agents that are not retired' })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name!: string;

  @ApiPropertyOptional({ example: 'web01.example.internal' })
  @IsOptional()
  @IsString()
  @MaxLength(253)
  hostname?: string;
}

/** Metadata an agent reports; absent fields keep their stored value. */
export class HeartbeatDto {
  @ApiPropertyOptional({ example: 'linux' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  os?: string;

  @ApiPropertyOptional({ example: 'amd64' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  architecture?: string;

  @ApiPropertyOptional({ example: '10.0.4.17', description: 'IPv4 or IPv6 address; empty for unknown' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  @IsInetAddressOrEmpty()
  ip_address?: string;

  @ApiPropertyOptional({ example: 'web01.example.internal' })
  @IsOptional()
  @IsString()
  @MaxLength(253)
  hostname?: string;

  @ApiPropertyOptional({ example: '1.4.2' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  version?: string;
}

/** Query strings only: `true`/`false` (any case) become booleans; anything else fails validation. */
const toBoolean = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  return v === 'true' ? true : v === 'false' ? false : value;
};

const toStatus = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? (parseEnum(AgentStatus, value) ?? value) : value;

export class AgentListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ enum: STATUSES, description: 'Status (case-insensitive)' })
  @IsOptional()
  @Transform(toStatus)
  @IsIn(STATUSES, { message: `status must be one of ${STATUSES.join(', ')}` })
  status?: AgentStatus;

  @ApiPropertyOptional({ example: 'linux', description: 'Operating system (case-insensitive, exact)' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  os?: string;

  @ApiPropertyOptional({ example: 'arm64', description: 'Architecture (case-insensitive, exact)' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  architecture?: string;

  @ApiPropertyOptional({ description: 'Case-insensitive substring of the name or hostname' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  q?: string;
}

export class RetireAgentQueryDto {
  @ApiPropertyOptional({
    type: Boolean,
    description: 'Retire even with active dependencies: retires its targets and cancels its open jobs',
  })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'force must be true or false' })
  force?: boolean;

  @ApiPropertyOptional({ example: 'host decommissioned', description: 'Why; required with force=true' })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  reason?: string;
}

export class RetireAgentResponseDto {
  @ApiProperty({ type: AgentDto }) agent!: AgentDto;
  @ApiProperty({ description: 'Whether dependants were retired/cancelled with it (force=true)' }) cascade!: boolean;
  @ApiProperty({ description: 'Deployment targets soft-retired with the agent' }) retired_targets!: number;
  @ApiProperty({ description: 'Open jobs cancelled' }) cancelled_jobs!: number;
}

export class AgentPageDto extends PageOf(AgentDto, 'AgentPage') {}

export class RetireBlockedCountsDto {
  @ApiProperty({ description: 'Non-retired deployment targets served by the agent' }) active_targets!: number;
  @ApiProperty({ description: 'Managed certificates on the agent that are not archived or revoked' })
  active_certificates!: number;
  @ApiProperty({ description: 'Jobs for the agent in Pending, AwaitingCSR, AwaitingApproval or Running' })
  pending_jobs!: number;
}

/** 409 from a retire blocked by dependencies: the counts say what would be orphaned. */
export class AgentRetireBlockedDto {
  @ApiProperty({ example: 'Conflict' }) error!: string;
  @ApiProperty({ example: 'agent "ag-web" has active dependencies; retry with force=true&reason=...' })
  message!: string;
  @ApiProperty() request_id!: string;
  @ApiProperty({ type: RetireBlockedCountsDto }) details!: RetireBlockedCountsDto;
}
