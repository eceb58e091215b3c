/**
 * Inventory vocabularies. Wire values match certctl's (PascalCase types and statuses) so
 * existing clients keep working; inputs are matched case-insensitively by `parseEnum`.
 */
export const IssuerType = {
  LocalCA: 'LocalCA',
  ACME: 'ACME',
  StepCA: 'StepCA',
  VaultPKI: 'VaultPKI',
  DigiCert: 'DigiCert',
  Sectigo: 'Sectigo',
  GoogleCAS: 'GoogleCAS',
  AWSACMPCA: 'AWSACMPCA',
  Entrust: 'Entrust',
  GlobalSign: 'GlobalSign',
  EJBCA: 'EJBCA',
  ADCS: 'ADCS',
  OpenSSL: 'OpenSSL',
} as const;
export type IssuerType = (typeof IssuerType)[keyof typeof IssuerType];

export const TargetType = {
  NGINX: 'NGINX',
  Apache: 'Apache',
  HAProxy: 'HAProxy',
  Traefik: 'Traefik',
  Caddy: 'Caddy',
  Envoy: 'Envoy',
  Postfix: 'Postfix',
  Dovecot: 'Dovecot',
  IIS: 'IIS',
  F5: 'F5',
  SSH: 'SSH',
  WinCertStore: 'WinCertStore',
  JavaKeystore: 'JavaKeystore',
  KubernetesSecrets: 'KubernetesSecrets',
  AWSACM: 'AWSACM',
  AzureKeyVault: 'AzureKeyVault',
} as const;
export type TargetType = (typeof TargetType)[keyof typeof TargetType];

export const CertificateStatus = {
  Pending: 'Pending',
  Active: 'Active',
  Expiring: 'Expiring',
  Expired: 'Expired',
  RenewalInProgress: 'RenewalInProgress',
  Failed: 'Failed',
  Revoked: 'Revoked',
  Archived: 'Archived',
} as const;
export type CertificateStatus = (typeof CertificateStatus)[keyof typeof CertificateStatus];

export const JobType = {
  Issuance: 'Issuance',
  Renewal: 'Renewal',
  Deployment: 'Deployment',
  Revocation: 'Revocation',
} as const;
export type JobType = (typeof JobType)[keyof typeof JobType];

export const JobStatus = {
  Pending: 'Pending',
  AwaitingCSR: 'AwaitingCSR',
  AwaitingApproval: 'AwaitingApproval',
  /** An asynchronous CA (DigiCert, Sectigo, ...) accepted the order; the server polls it. */
  AwaitingIssuer: 'AwaitingIssuer',
  Running: 'Running',
  Completed: 'Completed',
  Failed: 'Failed',
  Cancelled: 'Cancelled',
} as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

/** Jobs that still hold work (block an agent's clean retirement). */
export const OPEN_JOB_STATUSES: readonly JobStatus[] = [
  'Pending',
  'AwaitingCSR',
  'AwaitingApproval',
  'AwaitingIssuer',
  'Running',
];

export const AgentStatus = {
  Online: 'Online',
  Offline: 'Offline',
  Degraded: 'Degraded',
} as const;
export type AgentStatus = (typeof AgentStatus)[keyof typeof AgentStatus];

/** Agent ids that stand for server-side discovery sources; never retired. */
export const SENTINEL_AGENT_IDS = ['server-scanner', 'cloud-aws-sm', 'cloud-azure-kv', 'cloud-gcp-sm'] as const;

export const NotificationStatus = {
  Pending: 'pending',
  Sent: 'sent',
  Failed: 'failed',
  Dead: 'dead',
} as const;
export type NotificationStatus = (typeof NotificationStatus)[keyof typeof NotificationStatus];

export const PolicyRuleType = {
  KeyAlgorithm: 'KeyAlgorithm',
  MaxValidity: 'MaxValidity',
  RequiredSanPattern: 'RequiredSanPattern',
  ForbiddenWildcard: 'ForbiddenWildcard',
  OwnerRequired: 'OwnerRequired',
  AllowedIssuers: 'AllowedIssuers',
  AllowedEnvironments: 'AllowedEnvironments',
  RequiredTags: 'RequiredTags',
} as const;
export type PolicyRuleType = (typeof PolicyRuleType)[keyof typeof PolicyRuleType];

export const Severity = { Info: 'info', Warning: 'warning', Critical: 'critical' } as const;
export type Severity = (typeof Severity)[keyof typeof Severity];

export const RevocationReason = {
  unspecified: 0,
  keyCompromise: 1,
  caCompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
} as const;
export type RevocationReason = keyof typeof RevocationReason;

/**
 * Case-insensitive lookup of an enum value: `parseEnum(IssuerType, 'localca')` ->
 * 'LocalCA'; undefined when it is not a member.
 */
export function parseEnum<T extends Record<string, string>>(e: T, input: string): T[keyof T] | undefined {
  const wanted = input.trim().toLowerCase();
  return Object.values(e).find((v) => v.toLowerCase() === wanted) as T[keyof T] | undefined;
}
