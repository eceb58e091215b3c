import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { MatchCriteria } from './match-criteria';

/** A set of agents: dynamic (match_criteria) plus explicit includes, minus excludes. */
@Entity({ name: 'agent_groups' })
export class AgentGroupEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'text' }) description!: string;
  @Column({ type: 'jsonb', name: 'match_criteria' }) matchCriteria!: MatchCriteria;
  @Column({ type: 'boolean' }) enabled!: boolean;
  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}

export type MembershipType = 'include' | 'exclude';
