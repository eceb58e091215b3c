import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { ApprovalKind, ApprovalState } from '@certctl/domain';

/** Read model of `approval_requests` for lists (writes go through libs/approval). */
@Entity({ name: 'approval_requests' })
export class ApprovalRequestEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text' }) kind!: ApprovalKind;
  @Column({ type: 'text' }) state!: ApprovalState;
  @Column({ type: 'text', name: 'certificate_id', nullable: true }) certificateId!: string | null;
  @Column({ type: 'text', name: 'job_id', nullable: true }) jobId!: string | null;
  @Column({ type: 'text', name: 'profile_id', nullable: true }) profileId!: string | null;
  @Column({ type: 'jsonb', nullable: true }) payload!: Record<string, unknown> | null;
  @Column({ type: 'text', name: 'requested_by' }) requestedBy!: string;
  @Column({ type: 'text', name: 'requested_by_type' }) requestedByType!: string;
  @Column({ type: 'integer', name: 'required_approvals' }) requiredApprovals!: number;
  @Column({ type: 'text', array: true, name: 'approver_roles' }) approverRoles!: string[];
  @Column({ type: 'text', name: 'decided_by', nullable: true }) decidedBy!: string | null;
  @Column({ type: 'timestamptz', name: 'decided_at', nullable: true }) decidedAt!: Date | null;
  @Column({ type: 'text', nullable: true }) note!: string | null;
  @Column({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
  @Column({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}
