import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

@Entity({ name: 'owners' })
export class OwnerEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text' }) name!: string;
  /** Unique case-insensitively (owners_email_idx on lower(email)); stored as given. */
  @Column({ type: 'text' }) email!: string;
  @Column({ type: 'text', name: 'team_id', nullable: true }) teamId!: string | null;
  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}
