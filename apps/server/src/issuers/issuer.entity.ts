import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { IssuerType } from '@certctl/domain';

@Entity({ name: 'issuers' })
export class IssuerEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'text' }) type!: IssuerType;
  /** The non-secret settings. */
  @Column({ type: 'jsonb' }) config!: Record<string, unknown>;
  /** The secret settings, sealed by SecretBox; never leaves the server (not selected by default). */
  @Column({ type: 'bytea', name: 'secret_config', nullable: true, select: false }) secretConfig!: Buffer | null;
  /** Names of the secrets inside secret_config. */
  @Column({ type: 'text', array: true, name: 'secret_fields' }) secretFields!: string[];
  @Column({ type: 'boolean' }) enabled!: boolean;
  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}
