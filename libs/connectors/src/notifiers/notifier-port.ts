import type { ConnectorCheck } from '../connector';

/** The notification channels this build can deliver to (the `channel` of a notification row). */
export const NotifierType = {
  Email: 'email',
  Webhook: 'webhook',
  Slack: 'slack',
  Teams: 'teams',
  PagerDuty: 'pagerduty',
  OpsGenie: 'opsgenie',
} as const;
export type NotifierType = (typeof NotifierType)[keyof typeof NotifierType];
export const NOTIFIER_TYPES: readonly NotifierType[] = Object.values(NotifierType);

/** What happened; receivers route on it (it is the webhook's `event` field and header). */
export const NotificationEventType = {
  ExpiryWarning: 'expiry_warning',
  RenewalSucceeded: 'renewal_succeeded',
  RenewalFailed: 'renewal_failed',
  DeploymentFailed: 'deployment_failed',
  CertificateRevoked: 'certificate_revoked',
  ApprovalRequested: 'approval_requested',
  ApprovalDecided: 'approval_decided',
  ApprovalExpired: 'approval_expired',
  AgentOffline: 'agent_offline',
  EndpointDown: 'endpoint_down',
  Digest: 'digest',
  /** Sent by a channel's `test` action. */
  Test: 'test',
} as const;
export type NotificationEventType = (typeof NotificationEventType)[keyof typeof NotificationEventType];

export const NotificationSeverity = { Info: 'info', Warning: 'warning', Critical: 'critical' } as const;
export type NotificationSeverity = (typeof NotificationSeverity)[keyof typeof NotificationSeverity];

/** The certificate a notification is about. */
export interface NotificationCertificate {
  id: string;
  commonName: string;
  /** When it expires (ISO 8601 when given as a string). */
  notAfter?: Date | string;
  serialHex?: string;
}

/** One notification as every channel gets it; each adapter renders it its own way. */
export interface NotificationMessage {
  /** The notification row id: the webhook delivery id, so receivers can drop duplicates. */
  id?: string;
  event: NotificationEventType;
  severity: NotificationSeverity;
  title: string;
  /** Plain-text body (email text part, chat message text, incident description). */
  text: string;
  /** HTML body for email; without it the email carries the text body only. */
  html?: string;
  certificate?: NotificationCertificate;
  /**
   * Groups the notifications about one condition: PagerDuty dedup_key, OpsGenie alias, and
   * the key a resolve closes.
   */
  dedupKey?: string;
  /** The condition is over: PagerDuty resolves and OpsGenie closes the incident under dedupKey. */
  resolve?: boolean;
  /** Email recipients for this message (owners, teams); the channel's `to` list is used otherwise. */
  recipients?: readonly string[];
  /** Extra facts shown by chat cards and sent as webhook/incident details. */
  details?: Readonly<Record<string, string>>;
  occurredAt?: Date;
}

export interface DeliveryResult {
  channel: NotifierType;
  /** What the provider returned to identify the delivery (SMTP message id, PagerDuty dedup_key, OpsGenie request id). */
  providerId?: string;
  /** HTTP status of the accepting response (HTTP channels). */
  status?: number;
  detail: string;
}

/**
 * A failed delivery. The message never contains a secret (keys, tokens, webhook URLs).
 * `retryable` is false when resending the same request cannot succeed (4xx other than 408/429,
 * a configuration problem): the retry loop may then mark the notification dead at once.
 */
export class NotifierError extends Error {
  constructor(
    readonly channel: NotifierType,
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(`${channel}: ${message}`);
    this.name = 'NotifierError';
  }
}

/** The notifier port: one instance per configured channel. */
export interface NotifierConnector {
  readonly type: NotifierType;
  /** Delivers one message; rejects with a NotifierError. */
  send(message: NotificationMessage): Promise<DeliveryResult>;
  /**
   * Sends a test notification (for incident channels a trigger followed by its resolve, so
   * no incident stays open) and reports the outcome instead of throwing.
   */
  test(): Promise<ConnectorCheck>;
}

/** What a `test` action sends. */
export const TEST_MESSAGE: NotificationMessage = {
  event: NotificationEventType.Test,
  severity: NotificationSeverity.Info,
  title: 'certctl test notification',
  text: 'This is a test notification from certctl: the channel is configured correctly.',
};

/** A channel's `test` action: one send, its outcome as a check. */
export async function testBySending(
  n: NotifierConnector,
  m: NotificationMessage = TEST_MESSAGE,
): Promise<ConnectorCheck> {
  try {
    const r = await n.send(m);
    return { ok: true, message: r.detail };
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
}
