import type { ConnectorCheck } from '../connector';
import { clip, jsonBody, messageFacts, postJson } from './http-delivery';
import { testByTriggerAndResolve } from './incident';
import {
  PAGERDUTY_SEVERITIES,
  pagerDutyNotifierConfig,
  type PagerDutyNotifierConfig,
  type PagerDutySeverity,
} from './notifier-configs';
import {
  NotifierError,
  NotifierType,
  type DeliveryResult,
  type NotificationMessage,
  type NotificationSeverity,
  type NotifierConnector,
} from './notifier-port';

export const PAGERDUTY_DEFAULT_URL = 'https://events.pagerduty.com';

/**
 * The payload.severity of a message: ours map onto PagerDuty's by name (its "error" level is
 * reached only through a floor); `min` raises a less severe one to it and leaves a more
 * severe one alone.
 */
export function pagerDutySeverity(severity: NotificationSeverity, min?: PagerDutySeverity): PagerDutySeverity {
  if (min === undefined) return severity;
  return PAGERDUTY_SEVERITIES.indexOf(severity) >= PAGERDUTY_SEVERITIES.indexOf(min) ? severity : min;
}

/**
 * An Events API v2 event. A trigger carries the payload (summary at most 1024 characters);
 * a resolve only names the alert by dedup_key. The event's own severity stays in
 * custom_details (the Severity fact) when a floor raised payload.severity.
 */
export function pagerDutyEvent(
  m: NotificationMessage,
  routingKey: string,
  source: string,
  minSeverity?: PagerDutySeverity,
): Record<string, unknown> {
  if (m.resolve) return { routing_key: routingKey, event_action: 'resolve', dedup_key: m.dedupKey };
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    ...(m.dedupKey ? { dedup_key: m.dedupKey } : {}),
    client: 'certctl',
    payload: {
      summary: clip(m.title, 1024),
      source,
      severity: pagerDutySeverity(m.severity, minSeverity),
      timestamp: (m.occurredAt ?? new Date()).toISOString(),
      component: m.certificate?.commonName,
      class: m.event,
      custom_details: { text: m.text, ...Object.fromEntries(messageFacts(m)) },
    },
  };
}

export class PagerDutyNotifier implements NotifierConnector {
  readonly type = NotifierType.PagerDuty;
  private readonly config: PagerDutyNotifierConfig;

  constructor(config: unknown) {
    this.config = pagerDutyNotifierConfig.schema.parse(config);
  }

  async send(m: NotificationMessage): Promise<DeliveryResult> {
    if (m.resolve && !m.dedupKey) {
      throw new NotifierError(this.type, 'a resolve needs the dedup key of the incident it closes', false);
    }
    const res = await postJson({
      channel: this.type,
      url: new URL('/v2/enqueue', this.config.api_url ?? PAGERDUTY_DEFAULT_URL),
      body: pagerDutyEvent(m, this.config.routing_key, this.config.source ?? 'certctl', this.config.min_severity),
      options: this.config,
      secrets: [this.config.routing_key],
    });
    const answer = jsonBody(res);
    const dedupKey = typeof answer?.dedup_key === 'string' ? answer.dedup_key : m.dedupKey;
    return {
      channel: this.type,
      providerId: dedupKey,
      status: res.status,
      detail: `${m.resolve ? 'resolve' : 'trigger'} accepted with HTTP ${res.status}`,
    };
  }

  test(): Promise<ConnectorCheck> {
    return testByTriggerAndResolve(this);
  }
}
