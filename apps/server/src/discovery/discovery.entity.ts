import { Column, Entity, PrimaryColumn } from 'typeorm';

export const DiscoveryStatus = {
  Unmanaged: 'Unmanaged',
  Managed: 'Managed',
  Dismissed: 'Dismissed',
} as const;
export type DiscoveryStatus = (typeof DiscoveryStatus)[keyof typeof DiscoveryStatus];
export const DISCOVERY_STATUSES = Object.values(DiscoveryStatus);

export const DISCOVERY_SOURCES = ['filesystem'] as const;
export type DiscoverySource = (typeof DISCOVERY_SOURCES)[number];

/** A certificate an agent found, deduplicated on (fingerprint, agent, path). Read side of the lists. */
@Entity({ name: 'discovered_certificates' })
export class DiscoveredCertificateEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text', name: 'agent_id' }) agentId!: string;
  @Column({ type: 'text', name: 'source_path' }) sourcePath!: string;
  @Column({ type: 'text', name: 'source_format' }) sourceFormat!: string;
  @Column({ type: 'text', name: 'fingerprint_sha256' }) fingerprintSha256!: string;
  @Column({ type: 'text', name: 'common_name' }) commonName!: string;
  @Column({ type: 'text', array: true }) sans!: string[];
  @Column({ type: 'text' }) serial!: string;
  @Column({ type: 'text', name: 'issuer_dn' }) issuerDn!: string;
  @Column({ type: 'text', name: 'subject_dn' }) subjectDn!: string;
  @Column({ type: 'timestamptz', name: 'not_before', nullable: true }) notBefore!: Date | null;
  @Column({ type: 'timestamptz', name: 'not_after', nullable: true }) notAfter!: Date | null;
  @Column({ type: 'text', name: 'key_algorithm' }) keyAlgorithm!: string;
  @Column({ type: 'integer', name: 'key_size', nullable: true }) keySize!: number | null;
  @Column({ type: 'boolean', name: 'is_ca' }) isCa!: boolean;
  @Column({ type: 'text' }) status!: DiscoveryStatus;
  @Column({ type: 'text', name: 'managed_certificate_id', nullable: true }) managedCertificateId!: string | null;
  @Column({ type: 'timestamptz', name: 'first_seen' }) firstSeen!: Date;
  @Column({ type: 'timestamptz', name: 'last_seen' }) lastSeen!: Date;
  @Column({ type: 'text', name: 'last_scan_id', nullable: true }) lastScanId!: string | null;
  @Column({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
  @Column({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}

export interface ScanError {
  path: string;
  message: string;
}

/** One discovery run an agent reported. */
@Entity({ name: 'discovery_scans' })
export class DiscoveryScanEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text', name: 'agent_id' }) agentId!: string;
  @Column({ type: 'text' }) source!: DiscoverySource;
  @Column({ type: 'timestamptz', name: 'started_at' }) startedAt!: Date;
  @Column({ type: 'timestamptz', name: 'finished_at' }) finishedAt!: Date;
  @Column({ type: 'text', array: true }) directories!: string[];
  @Column({ type: 'integer', name: 'certificates_found' }) certificatesFound!: number;
  @Column({ type: 'integer', name: 'new_certificates' }) newCertificates!: number;
  @Column({ type: 'integer', name: 'error_count' }) errorCount!: number;
  @Column({ type: 'jsonb' }) errors!: ScanError[];
  @Column({ type: 'text', name: 'reported_by' }) reportedBy!: string;
  @Column({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
}
