import type { RoutingMatrix } from '../notifications/routing-matrix';
import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

@Entity({ name: 'renewal_policies' })
export class RenewalPolicyEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'integer', name: 'renewal_days_before' }) renewalDaysBefore!: number;
  /** Days before expiry at which to alert, kept sorted descending. */
  @Column({ type: 'integer', array: true, name: 'alert_thresholds_days' }) alertThresholdsDays!: number[];
  @Column({ type: 'boolean', name: 'auto_renew' }) autoRenew!: boolean;
  @Column({ type: 'text', name: 'agent_group_id', nullable: true }) agentGroupId!: string | null;
  /** Event type -> severity -> channels; null: the default routing (notifications/routing-matrix.ts). */
  @Column({ type: 'jsonb', name: 'notification_routing', nullable: true })
  notificationRouting!: RoutingMatrix | null;
  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}
