import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface CapturedMail {
  to: string[];
  raw: string;
}

/**
 * A plain SMTP sink on loopback for delivery tests (STARTTLS itself is the email adapter's
 * own test's business): every message lands in `mails`; `env` points the server at it.
 */
export async function startSmtpSink(): Promise<{
  mails: CapturedMail[];
  env: Record<string, string>;
  close(): Promise<void>;
}> {
  const mails: CapturedMail[] = [];
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  return {
    mails,
    env: {
      CERTCTL_SMTP_HOST: '127.0.0.1',
      CERTCTL_SMTP_PORT: String((smtp.server.address() as AddressInfo).port),
      CERTCTL_SMTP_USE_TLS: 'false',
      CERTCTL_SMTP_FROM_ADDRESS: 'certctl@example.com',
    },
    close: () => new Promise<void>((resolve) => smtp.close(() => resolve())),
  };
}
