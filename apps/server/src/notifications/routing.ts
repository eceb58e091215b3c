import {
  NotificationEventType,
  NotificationSeverity,
  NotifierType,
  type NotificationEventType as EventType,
  type NotificationSeverity as Severity,
} from '@certctl/connectors';

/**
 * Default routing of notification events to channels (docs/operator/notifications.md,
 * "Routing"), used when the certificate's renewal policy has no matrix entry for the event
 * (routing-matrix.ts):
 *
 * - every event goes to email (owner's address, else CERTCTL_SMTP_RECIPIENTS) and the webhook;
 * - critical events also go to Slack, Teams, PagerDuty and OpsGenie. Critical means the row's
 *   severity is critical (expiry within 7 days, expired) or the event is a failure or a
 *   revocation, whatever severity its producer gave it.
 *
 * Only configured channels are returned, in a fixed order.
 */

/** The `type` column of notification rows (producers' names) as the event type receivers see. */
const ROW_TYPES: Record<string, EventType> = {
  expirationwarning: NotificationEventType.ExpiryWarning,
  expired: NotificationEventType.ExpiryWarning,
  renewalsuccess: NotificationEventType.RenewalSucceeded,
  renewalsucceeded: NotificationEventType.RenewalSucceeded,
  renewalfailure: NotificationEventType.RenewalFailed,
  renewalfailed: NotificationEventType.RenewalFailed,
  deploymentfailure: NotificationEventType.DeploymentFailed,
  deploymentfailed: NotificationEventType.DeploymentFailed,
  revocation: NotificationEventType.CertificateRevoked,
  certificaterevoked: NotificationEventType.CertificateRevoked,
  approvalrequested: NotificationEventType.ApprovalRequested,
  approvaldecided: NotificationEventType.ApprovalDecided,
  approvalexpired: NotificationEventType.ApprovalExpired,
  agentoffline: NotificationEventType.AgentOffline,
  endpointdown: NotificationEventType.EndpointDown,
};

/** `ExpirationWarning`, `expiry_warning` and `Revocation` all map; unknown types are generic warnings. */
export function eventTypeOf(rowType: string): EventType {
  return ROW_TYPES[rowType.toLowerCase().replace(/[^a-z]/g, '')] ?? NotificationEventType.ExpiryWarning;
}

export function severityOf(rowSeverity: string): Severity {
  const s = rowSeverity.toLowerCase();
  return s === 'critical' || s === 'info' ? s : NotificationSeverity.Warning;
}

/** Events that page people whatever severity their producer gave them. */
const ALWAYS_CRITICAL: ReadonlySet<EventType> = new Set([
  NotificationEventType.RenewalFailed,
  NotificationEventType.DeploymentFailed,
  NotificationEventType.CertificateRevoked,
]);

const ROUTE_ORDER: readonly NotifierType[] = [
  NotifierType.Email,
  NotifierType.Webhook,
  NotifierType.Slack,
  NotifierType.Teams,
  NotifierType.PagerDuty,
  NotifierType.OpsGenie,
];

const EVERY_EVENT: ReadonlySet<NotifierType> = new Set([NotifierType.Email, NotifierType.Webhook]);

export function isCritical(event: { type: string; severity: string }): boolean {
  return severityOf(event.severity) === 'critical' || ALWAYS_CRITICAL.has(eventTypeOf(event.type));
}

/** The channels one event goes to, among the configured ones. */
export function routeEvent(
  event: { type: string; severity: string },
  configured: readonly NotifierType[],
): NotifierType[] {
  const critical = isCritical(event);
  return ROUTE_ORDER.filter((c) => configured.includes(c) && (critical || EVERY_EVENT.has(c)));
}
