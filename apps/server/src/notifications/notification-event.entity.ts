import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { NotificationStatus } from '@certctl/domain';

/** One notification (alert or event) for a channel and recipient, with its delivery state. */
@Entity({ name: 'notification_events' })
export class NotificationEventEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text' }) type!: string;
  @Column({ type: 'text', name: 'certificate_id', nullable: true }) certificateId!: string | null;
  @Column({ type: 'text' }) channel!: string;
  @Column({ type: 'text' }) recipient!: string;
  @Column({ type: 'text' }) message!: string;
  @Column({ type: 'text' }) severity!: string;
  @Column({ type: 'text' }) status!: NotificationStatus;
  @Column({ type: 'integer', name: 'retry_count' }) retryCount!: number;
  @Column({ type: 'timestamptz', name: 'next_retry_at', nullable: true }) nextRetryAt!: Date | null;
  @Column({ type: 'text', name: 'last_error', nullable: true }) lastError!: string | null;
  @Column({ type: 'timestamptz', name: 'read_at', nullable: true }) readAt!: Date | null;
  @Column({ type: 'timestamptz', name: 'sent_at', nullable: true }) sentAt!: Date | null;
  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}
