import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { TargetType } from '@certctl/domain';

@Entity({ name: 'deployment_targets' })
export class TargetEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'text' }) type!: TargetType;
  /** The agent that deploys to this target (agents deploy; the server never connects). */
  @Column({ type: 'text', name: 'agent_id', nullable: true }) agentId!: string | null;
  /** The non-secret settings. */
  @Column({ type: 'jsonb' }) config!: Record<string, unknown>;
  /** The secret settings, sealed by SecretBox; never leaves the server (not selected by default). */
  @Column({ type: 'bytea', name: 'secret_config', nullable: true, select: false }) secretConfig!: Buffer | null;
  /** Names of the secrets inside secret_config. */
  @Column({ type: 'text', array: true, name: 'secret_fields' }) secretFields!: string[];
  @Column({ type: 'boolean' }) enabled!: boolean;
  @Column({ type: 'timestamptz', name: 'retired_at', nullable: true }) retiredAt!: Date | null;
  @Column({ type: 'text', name: 'retired_reason', nullable: true }) retiredReason!: string | null;
  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}
