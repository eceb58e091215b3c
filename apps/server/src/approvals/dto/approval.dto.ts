import { ApiProperty, ApiPropertyOptional, IntersectionType } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { ApprovalKind, ApprovalState, APPROVAL_STATES } from '@certctl/domain';
import type { ApprovalDecisionRow, ApprovalRequestRow } from '@certctl/approval';
import { ListQueryDto } from '../../http/list-query.dto';
import { PageOf } from '../../http/page.dto';
import type { ApprovalRequestEntity } from '../approval-request.entity';

const KINDS = Object.values(ApprovalKind);
const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export class ApprovalDecisionDto {
  @ApiProperty({ example: 'ak-2m9q4r8t1v7k' }) actor!: string;
  @ApiProperty({ example: 'ApiKey' }) actor_type!: string;
  @ApiProperty({ enum: ['approve', 'reject'] }) decision!: string;
  @ApiProperty({ type: String, nullable: true }) note!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;

  static from(d: ApprovalDecisionRow): ApprovalDecisionDto {
    return {
      actor: d.actor,
      actor_type: d.actor_type,
      decision: d.decision,
      note: d.note,
      created_at: d.created_at.toISOString(),
    };
  }
}

export class ApprovalDto {
  @ApiProperty({ example: 'ar-7k2m9q4r8t1v' }) id!: string;
  @ApiProperty({ enum: KINDS }) kind!: string;
  @ApiProperty({ enum: APPROVAL_STATES }) state!: string;
  @ApiProperty({ type: String, nullable: true }) certificate_id!: string | null;
  @ApiProperty({ type: String, nullable: true }) job_id!: string | null;
  @ApiProperty({ type: String, nullable: true }) profile_id!: string | null;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    description: 'profile_edit: the proposed change',
  })
  payload!: Record<string, unknown> | null;
  @ApiProperty() requested_by!: string;
  @ApiProperty() requested_by_type!: string;
  @ApiProperty({ description: 'Distinct approvals needed (M-of-N)' }) required_approvals!: number;
  @ApiProperty({ type: [String], description: 'Role ids an approver must hold (empty: any approver)' })
  approver_roles!: string[];
  @ApiProperty({ type: String, nullable: true }) decided_by!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) decided_at!: string | null;
  @ApiProperty({ type: String, nullable: true }) note!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static fromRow(r: ApprovalRequestRow): ApprovalDto {
    return {
      id: r.id,
      kind: r.kind,
      state: r.state,
      certificate_id: r.certificate_id,
      job_id: r.job_id,
      profile_id: r.profile_id,
      payload: r.payload,
      requested_by: r.requested_by,
      requested_by_type: r.requested_by_type,
      required_approvals: r.required_approvals,
      approver_roles: r.approver_roles,
      decided_by: r.decided_by,
      decided_at: iso(r.decided_at),
      note: r.note,
      created_at: r.created_at.toISOString(),
      updated_at: r.updated_at.toISOString(),
    };
  }

  static fromEntity(e: ApprovalRequestEntity): ApprovalDto {
    return ApprovalDto.fromRow({
      id: e.id,
      kind: e.kind,
      state: e.state,
      certificate_id: e.certificateId,
      job_id: e.jobId,
      profile_id: e.profileId,
      payload: e.payload,
      requested_by: e.requestedBy,
      requested_by_type: e.requestedByType,
      required_approvals: e.requiredApprovals,
      approver_roles: e.approverRoles,
      decided_by: e.decidedBy,
      decided_at: e.decidedAt,
      note: e.note,
      created_at: e.createdAt,
      updated_at: e.updatedAt,
    });
  }
}

export const APPROVAL_FIELDS = [
  'kind',
  'state',
  'certificate_id',
  'job_id',
  'profile_id',
  'payload',
  'requested_by',
  'requested_by_type',
  'required_approvals',
  'approver_roles',
  'decided_by',
  'decided_at',
  'note',
  'created_at',
  'updated_at',
] as const;

export class ApprovalDetailDto extends ApprovalDto {
  @ApiProperty({ type: [ApprovalDecisionDto] }) decisions!: ApprovalDecisionDto[];
  @ApiProperty({ description: 'Approvals still needed while pending (0 once decided)' })
  remaining_approvals!: number;
}

export class ApprovalFilterDto {
  @ApiPropertyOptional({ enum: APPROVAL_STATES })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.toLowerCase() : value))
  @IsIn(APPROVAL_STATES, { message: `state must be one of ${APPROVAL_STATES.join(', ')}` })
  state?: ApprovalState;

  @ApiPropertyOptional({ enum: KINDS })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.toLowerCase() : value))
  @IsIn(KINDS, { message: `kind must be one of ${KINDS.join(', ')}` })
  kind?: ApprovalKind;

  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(128) certificate_id?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(128) profile_id?: string;
}

export class ApprovalListQueryDto extends IntersectionType(ApprovalFilterDto, ListQueryDto) {}
export class ApprovalPageDto extends PageOf(ApprovalDto, 'ApprovalPage') {}

export class DecideApprovalDto {
  @ApiPropertyOptional({ example: 'approved per ticket SECOPS-12345', maxLength: 1000 })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  note?: string;
}
