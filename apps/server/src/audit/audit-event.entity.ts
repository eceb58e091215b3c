import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

export type AuditCategory = 'api' | 'domain' | 'system';

/** One row of the append-only audit trail (a trigger rejects UPDATE and DELETE). */
@Entity({ name: 'audit_events' })
export class AuditEventEntity {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  @Column({ type: 'text' })
  category!: AuditCategory;

  @Column({ type: 'text' })
  actor!: string;

  @Column({ type: 'text', name: 'actor_type' })
  actorType!: string;

  @Column({ type: 'text' })
  action!: string;

  @Column({ type: 'text', name: 'resource_type' })
  resourceType!: string;

  @Column({ type: 'text', name: 'resource_id' })
  resourceId!: string;

  @Column({ type: 'jsonb' })
  details!: Record<string, unknown>;

  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' })
  createdAt!: Date;
}
