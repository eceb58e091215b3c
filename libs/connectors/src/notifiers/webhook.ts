import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { ConnectorCheck } from '../connector';
import { isoDate, postJson } from './http-delivery';
import { webhookNotifierConfig, type WebhookNotifierConfig } from './notifier-configs';
import {
  NotifierType,
  TEST_MESSAGE,
  testBySending,
  type DeliveryResult,
  type NotificationMessage,
  type NotifierConnector,
} from './notifier-port';

/*
 * Webhook signature scheme (docs/operator/notifications.md):
 *   X-Certctl-Timestamp: <unix seconds>
 *   X-Certctl-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 * Signing the timestamp with the body lets a receiver refuse old (replayed) deliveries: the
 * timestamp cannot be changed without breaking the signature.
 */
export const WEBHOOK_SIGNATURE_HEADER = 'x-certctl-signature';
export const WEBHOOK_TIMESTAMP_HEADER = 'x-certctl-timestamp';
export const WEBHOOK_EVENT_HEADER = 'x-certctl-event';
export const WEBHOOK_DELIVERY_HEADER = 'x-certctl-delivery';
/** How far a receiver lets the timestamp be from its own clock (seconds), our recommendation. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** The v1 signature of a body sent at `timestamp` (unix seconds). */
export function signWebhook(secret: string, timestamp: number, body: string | Buffer): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.`);
  mac.update(body);
  return `v1=${mac.digest('hex')}`;
}

export type WebhookVerification = { ok: true; timestamp: number } | { ok: false; reason: string };

/**
 * What a receiver does with a delivery, for receivers written in TypeScript (the docs give the
 * same steps for other languages): recompute the signature over the raw body, compare in
 * constant time, then refuse a timestamp outside the tolerance. Remembering the delivery ids
 * seen within the tolerance also refuses a replay inside the window.
 */
export function verifyWebhookSignature(
  secret: string,
  headers: { timestamp?: string; signature?: string },
  rawBody: string | Buffer,
  now: Date = new Date(),
  toleranceSeconds = WEBHOOK_TOLERANCE_SECONDS,
): WebhookVerification {
  if (!headers.timestamp || !/^\d{1,12}$/.test(headers.timestamp)) return { ok: false, reason: 'missing timestamp' };
  if (!headers.signature) return { ok: false, reason: 'missing signature' };
  const timestamp = Number(headers.timestamp);
  const expected = Buffer.from(signWebhook(secret, timestamp, rawBody));
  const given = Buffer.from(headers.signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'signature mismatch' };
  }
  if (Math.abs(now.getTime() / 1000 - timestamp) > toleranceSeconds) {
    return { ok: false, reason: 'timestamp outside tolerance' };
  }
  return { ok: true, timestamp };
}

/** The JSON document a webhook receives (field names are the documented contract). */
export function webhookPayload(m: NotificationMessage, deliveryId: string): Record<string, unknown> {
  return {
    id: deliveryId,
    event: m.event,
    severity: m.severity,
    title: m.title,
    text: m.text,
    resolved: m.resolve ?? false,
    dedup_key: m.dedupKey ?? null,
    occurred_at: (m.occurredAt ?? new Date()).toISOString(),
    certificate: m.certificate
      ? {
          id: m.certificate.id,
          common_name: m.certificate.commonName,
          not_after: isoDate(m.certificate.notAfter) ?? null,
          serial: m.certificate.serialHex ?? null,
        }
      : null,
    details: m.details ?? {},
  };
}

export class WebhookNotifier implements NotifierConnector {
  readonly type = NotifierType.Webhook;
  private readonly config: WebhookNotifierConfig;

  constructor(
    config: unknown,
    /** The signing clock (tests sign with a past time to check that receivers refuse it). */
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.config = webhookNotifierConfig.schema.parse(config);
  }

  async send(m: NotificationMessage): Promise<DeliveryResult> {
    const deliveryId = m.id ?? randomUUID();
    const body = webhookPayload(m, deliveryId);
    const raw = JSON.stringify(body);
    const timestamp = Math.floor(this.clock().getTime() / 1000);
    const res = await postJson({
      channel: this.type,
      url: new URL(this.config.url),
      body: raw,
      headers: {
        ...this.config.headers,
        [WEBHOOK_TIMESTAMP_HEADER]: String(timestamp),
        [WEBHOOK_SIGNATURE_HEADER]: signWebhook(this.config.secret, timestamp, raw),
        [WEBHOOK_EVENT_HEADER]: m.event,
        [WEBHOOK_DELIVERY_HEADER]: deliveryId,
      },
      options: this.config,
      secrets: [this.config.secret],
    });
    return {
      channel: this.type,
      providerId: deliveryId,
      status: res.status,
      detail: `accepted with HTTP ${res.status}`,
    };
  }

  async test(): Promise<ConnectorCheck> {
    return testBySending(this, TEST_MESSAGE);
  }
}
