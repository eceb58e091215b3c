import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { JobStatus, JobType } from '@certctl/domain';

@Entity({ name: 'jobs' })
export class JobEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text' }) type!: JobType;
  @Column({ type: 'text', name: 'certificate_id', nullable: true }) certificateId!: string | null;
  @Column({ type: 'text', name: 'target_id', nullable: true }) targetId!: string | null;
  @Column({ type: 'text', name: 'agent_id', nullable: true }) agentId!: string | null;
  @Column({ type: 'text' }) status!: JobStatus;
  @Column({ type: 'integer' }) attempts!: number;
  @Column({ type: 'integer', name: 'max_attempts' }) maxAttempts!: number;
  @Column({ type: 'text', name: 'last_error', nullable: true }) lastError!: string | null;
  @Column({ type: 'timestamptz', name: 'scheduled_at' }) scheduledAt!: Date;
  @Column({ type: 'timestamptz', name: 'started_at', nullable: true }) startedAt!: Date | null;
  @Column({ type: 'timestamptz', name: 'completed_at', nullable: true }) completedAt!: Date | null;
  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}
