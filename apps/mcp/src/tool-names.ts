import type { ApiOperation } from './openapi';

/**
 * operationId -> MCP tool name, where the published tool list (certctl's reference MCP tool
 * names) calls an operation something other than `certctl_<operationId in snake_case>`.
 * Operations not listed get that default name, so a new API operation gets a tool without
 * touching this table.
 */
export const TOOL_NAMES: Readonly<Record<string, string>> = {
  getCrl: 'certctl_get_der_crl',
  getOcsp: 'certctl_ocsp_check',
  getAgentCertificate: 'certctl_agent_pickup_certificate',
  submitAgentCsr: 'certctl_agent_submit_csr',
  reportAgentJobStatus: 'certctl_agent_report_job_status',
  getAgentWork: 'certctl_agent_get_work',
  approveApproval: 'certctl_approve_request',
  rejectApproval: 'certctl_reject_request',
  getBootstrapStatus: 'certctl_bootstrap_status',
  consumeBootstrap: 'certctl_bootstrap_consume',
  checkAuth: 'certctl_auth_check',
  getAuthInfo: 'certctl_auth_info',
  getAuthMe: 'certctl_auth_me',
  listAuthKeys: 'certctl_auth_list_keys',
  grantAuthKeyRole: 'certctl_auth_assign_role_to_key',
  revokeAuthKeyRole: 'certctl_auth_revoke_role_from_key',
  listAuthPermissions: 'certctl_auth_list_permissions',
  listAuthRoles: 'certctl_auth_list_roles',
  createAuthRole: 'certctl_auth_create_role',
  getAuthRole: 'certctl_auth_get_role',
  updateAuthRole: 'certctl_auth_update_role',
  deleteAuthRole: 'certctl_auth_delete_role',
  addAuthRolePermissions: 'certctl_auth_add_permission_to_role',
  removeAuthRolePermission: 'certctl_auth_remove_permission_from_role',
  deployCertificate: 'certctl_trigger_deployment',
  renewCertificate: 'certctl_trigger_renewal',
  getDiscoverySummary: 'certctl_discovery_summary',
  getIntermediate: 'certctl_get_intermediate_ca',
  retireIntermediate: 'certctl_retire_intermediate_ca',
  listIssuerIntermediates: 'certctl_list_intermediate_cas',
  createIssuerIntermediate: 'certctl_create_intermediate_ca',
  reportJobVerification: 'certctl_verify_job',
  getMetrics: 'certctl_metrics',
  getCertificatesByStatus: 'certctl_certificates_by_status',
  getExpirationTimeline: 'certctl_expiration_timeline',
  getIssuanceRate: 'certctl_issuance_rate',
  getJobTrends: 'certctl_job_trends',
  getStatsSummary: 'certctl_dashboard_summary',
  getHealth: 'certctl_health',
  getReady: 'certctl_ready',
};

/** `certctl_` + the operationId in snake_case (listAgentGroups -> certctl_list_agent_groups). */
export function defaultToolName(operationId: string): string {
  const snake = operationId
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toLowerCase();
  return `certctl_${snake}`;
}

export function toolName(operationId: string): string {
  return TOOL_NAMES[operationId] ?? defaultToolName(operationId);
}

/**
 * Operations that destroy or irreversibly change something, beyond plain DELETEs: the model is
 * told to confirm them with the user, and clients see destructiveHint.
 */
const DESTRUCTIVE: Readonly<Record<string, string>> = {
  revokeCertificate: 'revokes the certificate at its CA; relying parties will reject it and it cannot be un-revoked',
  bulkRevokeCertificates: 'revokes every matching certificate at its CA; this cannot be undone',
  retireIntermediate: 'retires the intermediate CA; it stops signing and this cannot be undone',
  cancelJob: 'cancels the job; its work is abandoned',
  rejectJob: 'rejects the job; it will not run',
  rejectApproval: 'rejects the request; the gated action will not happen',
  rotateAuthKey: 'replaces the API key; the old secret stops working',
  consumeBootstrap: 'uses up the one-time bootstrap token',
};

const DELETE_EFFECT: Readonly<Record<string, string>> = {
  retireAgent: 'retires the agent; it can no longer authenticate and this cannot be undone',
  archiveCertificate: 'archives the certificate; it leaves the inventory and is no longer renewed',
  revokeAuthKey: 'revokes the API key; every client using it is locked out',
};

/** Why a tool is destructive (for its description), or undefined when it is not. */
export function destructiveEffect(op: Pick<ApiOperation, 'operationId' | 'method'>): string | undefined {
  if (op.method === 'delete') return DELETE_EFFECT[op.operationId] ?? 'deletes it; this cannot be undone';
  return DESTRUCTIVE[op.operationId];
}
