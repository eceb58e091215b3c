/**
 * Every BullMQ queue, job name and payload lives here so producers and processors agree
 * at compile time. Payloads carry ids, never state: the processor re-reads the row.
 */
export const QueueName = {
  /** Persists API audit rows off the request path; retried while Postgres is away. */
  Audit: 'audit',
  /** Ticks of the periodic loops (renewal check, job retry, ...), one job scheduler each. */
  Scheduler: 'scheduler',
  /** Job ids to run: the worker claims the row (Pending -> Running) before any work. */
  Jobs: 'jobs',
  /** Notification ids to deliver: the worker claims the row before sending (the row is the truth). */
  Notifications: 'notifications',
  /** ACME challenge ids to validate: the worker re-reads the authorization row (the truth). */
  AcmeValidation: 'acme-validation',
  /** Job ids whose asynchronous CA order is due for a poll: the worker leases the order row first. */
  IssuerOrders: 'issuer-orders',
} as const;
export type QueueName = (typeof QueueName)[keyof typeof QueueName];

export const JobName = {
  RecordApiCall: 'record-api-call',
  RunJob: 'run-job',
  DeliverNotification: 'deliver-notification',
  ValidateAcmeChallenge: 'validate-acme-challenge',
  PollIssuerOrder: 'poll-issuer-order',
} as const;
export type JobName = (typeof JobName)[keyof typeof JobName];

/** One API call, as recorded in `audit_events` (category `api`). */
export interface ApiCallAuditPayload {
  /** Audit row id, also the BullMQ job id: a replayed message inserts nothing twice. */
  id: string;
  actor: string;
  actor_type: ActorType;
  method: string;
  /** Path only: query strings may carry cursors or secrets and audit rows are forever. */
  path: string;
  status: number;
  latency_ms: number;
  /** First 16 hex chars of SHA-256 over the raw body, or null for an empty body. */
  body_sha256: string | null;
  request_id: string;
  source_ip: string | null;
  occurred_at: string;
}

import type { ActorType } from '../auth/permissions';

/** Periodic loops: each is a BullMQ job scheduler on the `scheduler` queue. */
export const LoopName = {
  RenewalCheck: 'renewal-check',
  JobProcessor: 'job-processor',
  JobRetry: 'job-retry',
  JobTimeout: 'job-timeout',
  AgentHealth: 'agent-health',
  ShortLivedExpiry: 'short-lived-expiry',
  CrlRegeneration: 'crl-regeneration',
  NotificationRetry: 'notification-retry',
  NotificationProcess: 'notification-process',
  ApprovalExpiry: 'approval-expiry',
  AcmeGc: 'acme-gc',
  /** Safety net: enqueues CA order polls that are due (a lost BullMQ message delays, never loses, one). */
  IssuerOrderPoll: 'issuer-order-poll',
} as const;
export type LoopName = (typeof LoopName)[keyof typeof LoopName];

/** A loop tick carries nothing: the loop reads what it needs from Postgres. */
export type LoopTickPayload = Record<string, never>;

export interface RunJobPayload {
  job_id: string;
}

/** The job whose pending CA order to poll (the order row in Postgres is the truth). */
export interface PollIssuerOrderPayload {
  job_id: string;
}

export interface DeliverNotificationPayload {
  notification_id: string;
  /** The row's channel (fixed for its life): lets a worker hold back a channel that is slow now. */
  channel: string;
}

export interface ValidateAcmeChallengePayload {
  challenge_id: string;
}

export interface QueuePayloads {
  [QueueName.Audit]: { [JobName.RecordApiCall]: ApiCallAuditPayload };
  [QueueName.Scheduler]: Record<string, LoopTickPayload>;
  [QueueName.Jobs]: { [JobName.RunJob]: RunJobPayload };
  [QueueName.Notifications]: { [JobName.DeliverNotification]: DeliverNotificationPayload };
  [QueueName.AcmeValidation]: { [JobName.ValidateAcmeChallenge]: ValidateAcmeChallengePayload };
  [QueueName.IssuerOrders]: { [JobName.PollIssuerOrder]: PollIssuerOrderPayload };
}

export type JobNameOf<Q extends QueueName> = keyof QueuePayloads[Q] & string;
export type PayloadOf<Q extends QueueName, N extends JobNameOf<Q>> = QueuePayloads[Q][N];
