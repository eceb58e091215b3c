import type { ConnectorCheck } from '../connector';
import { clip, jsonBody, messageFacts, postJson } from './http-delivery';
import { testByTriggerAndResolve } from './incident';
import { pagerDutyNotifierConfig, type PagerDutyNotifierConfig } from './notifier-configs';
import {
  NotifierError,
  NotifierType,
  type DeliveryResult,
  type NotificationMessage,
  type NotifierConnector,
} from './notifier-port';

export const PAGERDUTY_DEFAULT_URL = 'https://events.pagerduty.com';

/**
 * An Events API v2 event. A trigger carries the payload (summary at most 1024 characters);
 * a resolve only names the alert by dedup_key. Our severities map onto PagerDuty's
 * (critical, warning, info; its "error" level is not used).
 */
export function pagerDutyEvent(m: NotificationMessage, routingKey: string, source: string): Record<string, unknown> {
  if (m.resolve) return { routing_key: routingKey, event_action: 'resolve', dedup_key: m.dedupKey };
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    ...(m.dedupKey ? { dedup_key: m.dedupKey } : {}),
    client: 'certctl',
    payload: {
      summary: clip(m.title, 1024),
      source,
      severity: m.severity,
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
      body: pagerDutyEvent(m, this.config.routing_key, this.config.source ?? 'certctl'),
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
