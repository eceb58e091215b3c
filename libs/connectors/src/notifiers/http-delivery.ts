import { httpExchange, type HttpExchangeResult } from '../targets/http-exchange';
import type { ConnectorCheck } from '../connector';
import {
  NotifierError,
  testBySending,
  type DeliveryResult,
  type NotificationMessage,
  type NotifierConnector,
  type NotifierType,
} from './notifier-port';

export const DEFAULT_TIMEOUT_SECONDS = 10;
/** Provider answers are small JSON documents; anything bigger is not one of them. */
const MAX_RESPONSE_BYTES = 256 * 1024;
/** How much of a failed response's body an error quotes. */
const EXCERPT_CHARS = 300;

export interface ChannelOptions {
  timeout_seconds?: number;
  ca_pem?: string;
}

/** Replaces every occurrence of each secret (and of its URL-encoded form) by [REDACTED]. */
export function scrubSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    if (!s) continue;
    for (const form of new Set([s, encodeURIComponent(s)])) out = out.split(form).join('[REDACTED]');
  }
  return out;
}

/**
 * The parts of a webhook URL that carry its token (Slack: the path, Teams: the sig query),
 * so an error quoting one of them alone is scrubbed too.
 */
export function urlSecrets(webhookUrl: string): string[] {
  const u = new URL(webhookUrl);
  return [webhookUrl, u.pathname, u.search.slice(1)].filter((s) => s.length >= 8);
}

/** The first characters of a body, on one line, for an error message. */
export function excerpt(body: Buffer | string): string {
  const s = (typeof body === 'string' ? body : body.toString('utf8')).replace(/\s+/g, ' ').trim();
  return s.length > EXCERPT_CHARS ? `${s.slice(0, EXCERPT_CHARS)}...` : s;
}

/** Statuses after which the same request may succeed later. */
function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

export interface JsonPost {
  channel: NotifierType;
  url: URL;
  /** A JSON value, or its serialization when the caller signed those exact bytes. */
  body: unknown;
  headers?: Record<string, string>;
  options: ChannelOptions;
  /** Values that must never appear in an error (keys, tokens, the URL itself when it is one). */
  secrets: readonly (string | undefined)[];
}

/**
 * POSTs a JSON document and returns the 2xx answer. The deadline covers the whole exchange
 * (connect, request, response): a receiver that accepts the connection and never answers
 * fails with "no answer within N s". Errors name the channel and HTTP status, quote a bounded,
 * scrubbed excerpt of the body, and never contain the URL (some URLs are credentials).
 */
export async function postJson(req: JsonPost): Promise<HttpExchangeResult> {
  const payload = typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
  const seconds = req.options.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS;
  const signal = AbortSignal.timeout(seconds * 1000);
  const fail = (message: string, retryable: boolean, status?: number): NotifierError =>
    new NotifierError(req.channel, scrubSecrets(message, req.secrets), retryable, status);
  let res: HttpExchangeResult;
  try {
    res = await httpExchange(
      req.url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(payload)),
          'user-agent': 'certctl-notifier',
          ...req.headers,
        },
        // node:https reads `ca` from the same options (httpExchange passes them through).
        ...(req.options.ca_pem ? { ca: req.options.ca_pem } : {}),
        signal,
        timeoutMs: seconds * 1000,
        maxBytes: MAX_RESPONSE_BYTES,
      },
      payload,
    );
  } catch (e) {
    // The socket idle timer and the whole-exchange deadline both mean the receiver hung.
    const message = (e as Error).message;
    if (signal.aborted || message.startsWith('no answer within')) throw fail(`no answer within ${seconds} s`, true);
    throw fail(`request failed: ${message}`, true);
  }
  if (res.status < 200 || res.status > 299) {
    const body = excerpt(res.body);
    throw fail(`HTTP ${res.status}${body ? `: ${body}` : ''}`, retryableStatus(res.status), res.status);
  }
  return res;
}

/** The JSON object of a response body, or undefined when it is not one. */
export function jsonBody(res: HttpExchangeResult): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(res.body.toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** An expiry date as ISO 8601 (strings are passed through as given). */
export function isoDate(d: Date | string | undefined): string | undefined {
  if (d === undefined) return undefined;
  return typeof d === 'string' ? d : d.toISOString();
}

/** The facts chat cards show under the text: severity, event, certificate, then the message's details. */
export function messageFacts(m: NotificationMessage): [string, string][] {
  const facts: [string, string][] = [
    ['Severity', m.severity],
    ['Event', m.event],
  ];
  if (m.certificate) {
    facts.push(['Certificate', m.certificate.commonName], ['Certificate ID', m.certificate.id]);
    const expires = isoDate(m.certificate.notAfter);
    if (expires) facts.push(['Expires', expires]);
  }
  for (const [k, v] of Object.entries(m.details ?? {})) facts.push([k, v]);
  return facts;
}

/** Cuts a string to a provider's field limit. */
export function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * A chat channel whose incoming-webhook URL is both the address and the credential, and
 * whose message is one JSON POST (Slack, Teams): only the type and the payload differ.
 */
export class IncomingWebhookNotifier implements NotifierConnector {
  constructor(
    readonly type: NotifierType,
    private readonly config: ChannelOptions & { webhook_url: string },
    private readonly payload: (m: NotificationMessage) => Record<string, unknown>,
  ) {}

  async send(m: NotificationMessage): Promise<DeliveryResult> {
    const res = await postJson({
      channel: this.type,
      url: new URL(this.config.webhook_url),
      body: this.payload(m),
      options: this.config,
      secrets: urlSecrets(this.config.webhook_url),
    });
    return { channel: this.type, status: res.status, detail: `accepted with HTTP ${res.status}` };
  }

  test(): Promise<ConnectorCheck> {
    return testBySending(this);
  }
}
