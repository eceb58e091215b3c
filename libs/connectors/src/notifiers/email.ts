import { createTransport, type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import type { ConnectorCheck } from '../connector';
import { DEFAULT_TIMEOUT_SECONDS, scrubSecrets } from './http-delivery';
import { emailNotifierConfig, type EmailNotifierConfig } from './notifier-configs';
import {
  NotifierError,
  NotifierType,
  TEST_MESSAGE,
  testBySending,
  type DeliveryResult,
  type NotificationMessage,
  type NotifierConnector,
} from './notifier-port';

const DEFAULT_PORTS = { starttls: 587, tls: 465, none: 25 } as const;

/** The SMTP reply code of a nodemailer error, when the server sent one. */
function replyCode(e: unknown): number | undefined {
  const code = (e as { responseCode?: unknown }).responseCode;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Email over SMTP (nodemailer). One connection per message: notifications are few, and a
 * fresh connection never carries a stale TLS session or a server-side idle timeout into a send.
 * With security starttls the upgrade is required (requireTLS), so a server or a man in the
 * middle that drops STARTTLS from its capabilities gets no message and no password.
 */
export class EmailNotifier implements NotifierConnector {
  readonly type = NotifierType.Email;
  private readonly config: EmailNotifierConfig;

  constructor(config: unknown) {
    this.config = emailNotifierConfig.schema.parse(config);
  }

  private get timeoutMs(): number {
    return (this.config.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
  }

  private transport(): Transporter<SMTPTransport.SentMessageInfo> {
    const c = this.config;
    const security = c.security ?? 'starttls';
    return createTransport({
      host: c.host,
      port: c.port ?? DEFAULT_PORTS[security],
      secure: security === 'tls',
      requireTLS: security === 'starttls',
      ignoreTLS: security === 'none',
      auth: c.username !== undefined ? { user: c.username, pass: c.password } : undefined,
      tls: { ca: c.ca_pem, servername: c.tls_server_name, minVersion: 'TLSv1.2' },
      connectionTimeout: this.timeoutMs,
      greetingTimeout: this.timeoutMs,
      socketTimeout: this.timeoutMs,
      // Message content comes from our own templates; never let it name files or URLs to attach.
      disableFileAccess: true,
      disableUrlAccess: true,
    });
  }

  /** Runs one SMTP conversation under the whole-exchange deadline; errors become NotifierErrors. */
  private async converse<T>(run: (t: Transporter<SMTPTransport.SentMessageInfo>) => Promise<T>): Promise<T> {
    const transport = this.transport();
    const seconds = this.timeoutMs / 1000;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new NotifierError(this.type, `no answer within ${seconds} s`, true)),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([run(transport), deadline]);
    } catch (e) {
      if (e instanceof NotifierError) throw e;
      const message = (e as Error).message;
      const code = replyCode(e);
      // nodemailer words its own timeouts ("Greeting never received", "Timeout"); keep one wording.
      if ((e as { code?: unknown }).code === 'ETIMEDOUT') {
        throw new NotifierError(this.type, `no answer within ${seconds} s (${message})`, true);
      }
      // 5xx replies are permanent (bad recipient, authentication refused); 4xx and lost connections are not.
      const permanent = code !== undefined && code >= 500;
      throw new NotifierError(this.type, scrubSecrets(message, [this.config.password]), !permanent, code);
    } finally {
      clearTimeout(timer);
      transport.close();
    }
  }

  async send(m: NotificationMessage): Promise<DeliveryResult> {
    const to = [...new Set(m.recipients?.length ? m.recipients : (this.config.to ?? []))];
    if (to.length === 0) {
      throw new NotifierError(
        this.type,
        'no recipients: the notification has none and the channel sets no "to"',
        false,
      );
    }
    const prefix = this.config.subject_prefix ?? '[certctl]';
    const info = await this.converse((t) =>
      t.sendMail({
        from: this.config.from,
        to,
        subject: `${prefix}${m.resolve ? ' [resolved]' : ''} ${m.title}`,
        text: m.text,
        html: m.html,
        headers: { 'X-Certctl-Event': m.event, 'X-Certctl-Severity': m.severity },
      }),
    );
    return {
      channel: this.type,
      providerId: info.messageId,
      detail: `accepted for ${info.accepted.length} of ${to.length} recipient(s)`,
    };
  }

  /** Sends a test message to `to`; without `to`, checks connection, TLS and login only. */
  async test(): Promise<ConnectorCheck> {
    if (this.config.to?.length) return testBySending(this, TEST_MESSAGE);
    try {
      await this.converse((t) => t.verify());
      return { ok: true, message: 'connected, TLS and login accepted (no test message: "to" is not set)' };
    } catch (e) {
      return { ok: false, message: (e as Error).message };
    }
  }
}
