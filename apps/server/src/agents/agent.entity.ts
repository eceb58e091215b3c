import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { AgentStatus } from '@certctl/domain';

/** A registered agent. Never deleted: retirement stamps retired_at (soft-retire). */
@Entity({ name: 'agents' })
export class AgentEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  /** Unique among non-retired agents (agents_active_name_idx). */
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'text' }) hostname!: string;
  @Column({ type: 'text' }) status!: AgentStatus;
  @Column({ type: 'varchar', length: 64 }) os!: string;
  @Column({ type: 'varchar', length: 64 }) architecture!: string;
  /** '' until the first heartbeat reports one; otherwise a valid inet (CHECK). */
  @Column({ type: 'varchar', length: 64, name: 'ip_address' }) ipAddress!: string;
  @Column({ type: 'varchar', length: 64 }) version!: string;
  @Column({ type: 'text', name: 'api_key_id', nullable: true }) apiKeyId!: string | null;
  @Column({ type: 'timestamptz', name: 'last_heartbeat_at', nullable: true }) lastHeartbeatAt!: Date | null;
  @Column({ type: 'timestamptz', name: 'retired_at', nullable: true }) retiredAt!: Date | null;
  @Column({ type: 'text', name: 'retired_reason', nullable: true }) retiredReason!: string | null;
  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}

/** An `agents` row as raw SQL returns it (snake_case columns). */
export interface AgentRow {
  id: string;
  name: string;
  hostname: string;
  status: AgentStatus;
  os: string;
  architecture: string;
  ip_address: string;
  version: string;
  api_key_id: string | null;
  last_heartbeat_at: Date | null;
  retired_at: Date | null;
  retired_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

export function agentFromRow(r: AgentRow): AgentEntity {
  return Object.assign(new AgentEntity(), {
    id: r.id,
    name: r.name,
    hostname: r.hostname,
    status: r.status,
    os: r.os,
    architecture: r.architecture,
    ipAddress: r.ip_address,
    version: r.version,
    apiKeyId: r.api_key_id,
    lastHeartbeatAt: r.last_heartbeat_at,
    retiredAt: r.retired_at,
    retiredReason: r.retired_reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  });
}
