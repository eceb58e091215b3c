import type { DiscoveredCertificate, ScanOptions, ScanResult, TargetConnector } from '@certctl/connectors';

/** The validated AgentConfig. */
export const AGENT_CONFIG = Symbol('AGENT_CONFIG');

/** Looks up the target connector of a target type (libs/connectors registry in production). */
export const TARGET_CONNECTORS = Symbol('TARGET_CONNECTORS');
export type TargetConnectorLookup = (type: string) => TargetConnector | undefined;

/** Walks directories for certificates (libs/connectors filesystem scanner in production). */
export const DISCOVERY_SCANNER = Symbol('DISCOVERY_SCANNER');
export type DiscoveryScanner = (dirs: readonly string[], opts?: ScanOptions) => Promise<ScanResult>;
export type { DiscoveredCertificate };
