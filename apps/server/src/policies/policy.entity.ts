import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { PolicyRuleType, Severity } from '@certctl/domain';

@Entity({ name: 'policy_rules' })
export class PolicyRuleEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'text' }) type!: PolicyRuleType;
  @Column({ type: 'jsonb' }) config!: Record<string, unknown>;
  @Column({ type: 'text' }) severity!: Severity;
  @Column({ type: 'boolean' }) enabled!: boolean;
  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}

/** One certificate failing one rule; rows are replaced by the evaluator, never edited by the API. */
@Entity({ name: 'policy_violations' })
export class PolicyViolationEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text', name: 'certificate_id' }) certificateId!: string;
  @Column({ type: 'text', name: 'rule_id' }) ruleId!: string;
  @Column({ type: 'text' }) message!: string;
  @Column({ type: 'text' }) severity!: Severity;
  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
}
