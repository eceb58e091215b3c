import type { ConnectorCheck } from '../connector';
import { clip, jsonBody, messageFacts, postJson } from './http-delivery';
import { testByTriggerAndResolve } from './incident';
import {
  OPSGENIE_PRIORITIES,
  opsGenieNotifierConfig,
  type OpsGenieNotifierConfig,
  type OpsGeniePriority,
} from './notifier-configs';
import {
  NotifierError,
  NotifierType,
  type DeliveryResult,
  type NotificationMessage,
  type NotificationSeverity,
  type NotifierConnector,
} from './notifier-port';

export const OPSGENIE_URLS = { us: 'https://api.opsgenie.com', eu: 'https://api.eu.opsgenie.com' } as const;

const PRIORITY: Record<NotificationSeverity, OpsGeniePriority> = { critical: 'P1', warning: 'P3', info: 'P5' };

/**
 * The priority of a message: P1 critical, P3 warning, P5 info; `min` raises a less urgent one
 * to it and leaves a more urgent one alone.
 */
export function opsGeniePriority(severity: NotificationSeverity, min?: OpsGeniePriority): OpsGeniePriority {
  const own = PRIORITY[severity];
  if (min === undefined) return own;
  return OPSGENIE_PRIORITIES.indexOf(own) <= OPSGENIE_PRIORITIES.indexOf(min) ? own : min;
}

/** An alias longer than OpsGenie's 512 characters would be cut by it; we refuse it instead. */
const MAX_ALIAS = 512;

/** Alert API v2 create body (message at most 130 characters, description 15000). */
export function opsGenieAlert(
  m: NotificationMessage,
  config: Pick<OpsGenieNotifierConfig, 'team' | 'tags' | 'min_priority'>,
): Record<string, unknown> {
  return {
    message: clip(m.title, 130),
    ...(m.dedupKey ? { alias: m.dedupKey } : {}),
    description: clip(m.text, 15_000),
    priority: opsGeniePriority(m.severity, config.min_priority),
    source: 'certctl',
    entity: m.certificate?.commonName,
    tags: [...(config.tags ?? []), `event:${m.event}`],
    details: Object.fromEntries(messageFacts(m).map(([k, v]) => [k, clip(v, 8000)])),
    ...(config.team ? { responders: [{ type: 'team', name: config.team }] } : {}),
  };
}

export class OpsGenieNotifier implements NotifierConnector {
  readonly type = NotifierType.OpsGenie;
  private readonly config: OpsGenieNotifierConfig;

  constructor(config: unknown) {
    this.config = opsGenieNotifierConfig.schema.parse(config);
  }

  private url(path: string): URL {
    return new URL(path, this.config.api_url ?? OPSGENIE_URLS[this.config.region ?? 'us']);
  }

  async send(m: NotificationMessage): Promise<DeliveryResult> {
    if (m.dedupKey && m.dedupKey.length > MAX_ALIAS) {
      throw new NotifierError(this.type, `dedup key must be at most ${MAX_ALIAS} characters (alert alias)`, false);
    }
    if (m.resolve) {
      if (!m.dedupKey) throw new NotifierError(this.type, 'a close needs the alias (dedup key) of the alert', false);
      if (this.config.close_on_resolve === false) {
        return { channel: this.type, detail: 'close skipped (close_on_resolve is false)' };
      }
    }
    const res = await postJson({
      channel: this.type,
      url: m.resolve
        ? this.url(`/v2/alerts/${encodeURIComponent(m.dedupKey ?? '')}/close?identifierType=alias`)
        : this.url('/v2/alerts'),
      body: m.resolve ? { source: 'certctl', note: clip(m.text, 25_000) } : opsGenieAlert(m, this.config),
      headers: { authorization: `GenieKey ${this.config.api_key}` },
      options: this.config,
      secrets: [this.config.api_key],
    });
    const requestId = jsonBody(res)?.requestId;
    return {
      channel: this.type,
      providerId: typeof requestId === 'string' ? requestId : undefined,
      status: res.status,
      detail: `${m.resolve ? 'close' : 'create'} accepted with HTTP ${res.status}`,
    };
  }

  test(): Promise<ConnectorCheck> {
    return testByTriggerAndResolve(this);
  }
}
