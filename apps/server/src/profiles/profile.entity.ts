import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { KeyAlgorithmRule, SanRules } from '@certctl/domain';
import type { AcmeAuthMode } from '../acme/acme-config';

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
  /** ACME auth mode of `/acme/profile/{id}/`; null: CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE. */
  @Column({ type: 'text', name: 'acme_auth_mode', nullable: true }) acmeAuthMode!: AcmeAuthMode | null;
  /** newAccount there needs External Account Binding; null: CERTCTL_ACME_SERVER_EAB_REQUIRED. */
  @Column({ type: 'boolean', name: 'acme_eab_required', nullable: true }) acmeEabRequired!: boolean | null;
  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}
