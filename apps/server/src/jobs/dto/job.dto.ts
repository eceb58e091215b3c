import { ApiProperty, ApiPropertyOptional, IntersectionType } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { JobStatus, JobType } from '@certctl/domain';
import { ListQueryDto } from '../../http/list-query.dto';
import { PageOf } from '../../http/page.dto';
import type { JobEntity } from '../job.entity';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export class JobDto {
  @ApiProperty({ example: 'job-7k2m9q4r8t1v' }) id!: string;
  @ApiProperty({ enum: Object.values(JobType) }) type!: string;
  @ApiProperty({ type: String, nullable: true }) certificate_id!: string | null;
  @ApiProperty({ type: String, nullable: true }) target_id!: string | null;
  @ApiProperty({ type: String, nullable: true }) agent_id!: string | null;
  @ApiProperty({ enum: Object.values(JobStatus) }) status!: string;
  @ApiProperty() attempts!: number;
  @ApiProperty() max_attempts!: number;
  @ApiProperty({ type: String, nullable: true }) last_error!: string | null;
  @ApiProperty({ format: 'date-time' }) scheduled_at!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) started_at!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) completed_at!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static from(j: JobEntity): JobDto {
    return {
      id: j.id,
      type: j.type,
      certificate_id: j.certificateId,
      target_id: j.targetId,
      agent_id: j.agentId,
      status: j.status,
      attempts: j.attempts,
      max_attempts: j.maxAttempts,
      last_error: j.lastError,
      scheduled_at: j.scheduledAt.toISOString(),
      started_at: iso(j.startedAt),
      completed_at: iso(j.completedAt),
      created_at: j.createdAt.toISOString(),
      updated_at: j.updatedAt.toISOString(),
    };
  }
}

export const JOB_FIELDS = [
  'id',
  'type',
  'certificate_id',
  'target_id',
  'agent_id',
  'status',
  'attempts',
  'max_attempts',
  'last_error',
  'scheduled_at',
  'started_at',
  'completed_at',
  'created_at',
  'updated_at',
] as const;

const caseless =
  (values: string[]) =>
  ({ value }: { value: unknown }): unknown =>
    typeof value === 'string' ? (values.find((v) => v.toLowerCase() === value.toLowerCase()) ?? value) : value;

export class JobFilterDto {
  @ApiPropertyOptional({ enum: Object.values(JobStatus) })
  @IsOptional()
  @Transform(caseless(Object.values(JobStatus)))
  @IsIn(Object.values(JobStatus), { message: `status must be one of ${Object.values(JobStatus).join(', ')}` })
  status?: JobStatus;

  @ApiPropertyOptional({ enum: Object.values(JobType) })
  @IsOptional()
  @Transform(caseless(Object.values(JobType)))
  @IsIn(Object.values(JobType), { message: `type must be one of ${Object.values(JobType).join(', ')}` })
  type?: JobType;

  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(128) certificate_id?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(128) agent_id?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(128) target_id?: string;
}

export class JobListQueryDto extends IntersectionType(JobFilterDto, ListQueryDto) {}

export class JobPageDto extends PageOf(JobDto, 'JobPage') {}
