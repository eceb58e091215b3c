import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { CertificateStatus } from '@certctl/domain';

/** What a certificate shows of its newest version (none before the first issuance). */
export interface LatestVersionSummary {
  serial_number: string;
  fingerprint_sha256: string;
  not_before: Date;
}

/** Rows of other tables a certificate response carries. */
export interface CertificateExtras {
  targetIds: string[];
  latestVersion: LatestVersionSummary | null;
}

@Entity({ name: 'managed_certificates' })
export class ManagedCertificateEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'text', name: 'common_name' }) commonName!: string;
  @Column({ type: 'text', array: true }) sans!: string[];
  @Column({ type: 'text' }) environment!: string;
  @Column({ type: 'text', name: 'owner_id', nullable: true }) ownerId!: string | null;
  @Column({ type: 'text', name: 'team_id', nullable: true }) teamId!: string | null;
  @Column({ type: 'text', name: 'issuer_id', nullable: true }) issuerId!: string | null;
  @Column({ type: 'text', name: 'renewal_policy_id', nullable: true }) renewalPolicyId!: string | null;
  @Column({ type: 'text', name: 'profile_id', nullable: true }) profileId!: string | null;
  @Column({ type: 'text', name: 'agent_id', nullable: true }) agentId!: string | null;
  @Column({ type: 'text' }) status!: CertificateStatus;
  @Column({ type: 'timestamptz', name: 'expires_at', nullable: true }) expiresAt!: Date | null;
  @Column({ type: 'jsonb' }) tags!: Record<string, string>;
  @Column({ type: 'timestamptz', name: 'archived_at', nullable: true }) archivedAt!: Date | null;
  @Column({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
  @Column({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}

@Entity({ name: 'certificate_versions' })
export class CertificateVersionEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text', name: 'certificate_id' }) certificateId!: string;
  @Column({ type: 'text', name: 'serial_number' }) serialNumber!: string;
  @Column({ type: 'text', name: 'fingerprint_sha256' }) fingerprintSha256!: string;
  @Column({ type: 'text', name: 'pem_chain' }) pemChain!: string;
  @Column({ type: 'timestamptz', name: 'not_before' }) notBefore!: Date;
  @Column({ type: 'timestamptz', name: 'not_after' }) notAfter!: Date;
  @Column({ type: 'text', name: 'key_algorithm' }) keyAlgorithm!: string;
  @Column({ type: 'integer', name: 'key_size' }) keySize!: number;
  @Column({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
}
