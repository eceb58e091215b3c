import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { KeyAlgorithmRule, SanRules } from '@certctl/domain';

@Entity({ name: 'certificate_profiles' })
export class ProfileEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'text' }) description!: string;
  @Column({ type: 'jsonb', name: 'allowed_key_algorithms' }) allowedKeyAlgorithms!: KeyAlgorithmRule[];
  @Column({ type: 'integer', name: 'max_ttl_seconds' }) maxTtlSeconds!: number;
  @Column({ type: 'text', array: true, name: 'allowed_ekus' }) allowedEkus!: string[];
  @Column({ type: 'jsonb', name: 'san_rules' }) sanRules!: SanRules;
  @Column({ type: 'boolean', name: 'must_staple' }) mustStaple!: boolean;
  @Column({ type: 'boolean', name: 'requires_approval' }) requiresApproval!: boolean;
  /** Approval policy: distinct approvals needed (M-of-N), and the role ids an approver must hold one of. */
  @Column({ type: 'integer', name: 'required_approvals' }) requiredApprovals!: number;
  @Column({ type: 'text', array: true, name: 'approver_roles' }) approverRoles!: string[];
  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}
