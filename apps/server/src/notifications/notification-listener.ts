import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Client } from 'pg';
import { AppConfig } from '../config/config.schema';
import { runsBackgroundWork } from '../role/process-role';
import { NotificationLoops } from './delivery.service';

/** The channel the notification_events insert trigger notifies (see the NotificationDelivery migration). */
export const NEW_NOTIFICATION_CHANNEL = 'certctl_notification_new';
const RECONNECT_MS = 5_000;

/**
 * The after-commit fast path: producers (renewal check, revocation, ...) insert rows in their
 * own transactions, and Postgres tells us once they commit. Each notification runs one pass of
 * the process loop (route, then enqueue what is due); passes do not overlap, and a notification
 * during a pass runs one more. Losing the connection only delays delivery to the next loop tick,
 * so reconnecting is simple: a fixed wait, no catch-up.
 */
@Injectable()
export class NotificationListener implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(NotificationListener.name);
  private client?: Client;
  private stopped = false;
  private running?: Promise<void>;
  private again = false;
  private retryTimer?: NodeJS.Timeout;

  constructor(
    private readonly config: AppConfig,
    private readonly loops: NotificationLoops,
  ) {}

  onApplicationBootstrap(): void {
    // Routing is background work: on an api replica the workers' listeners and loops do it.
    if (runsBackgroundWork(this.config.role)) void this.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
    await this.running?.catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new Client({
      connectionString: this.config.database.url,
      application_name: 'certctl-notification-listen',
      keepAlive: true,
      connectionTimeoutMillis: 5_000,
    });
    this.client = client;
    let down = false;
    const onDown = (why: string): void => {
      if (down) return;
      down = true;
      client.removeAllListeners('notification');
      client.end().catch(() => undefined);
      if (this.client === client) this.client = undefined;
      if (this.stopped) return;
      this.logger.warn(`new-notification channel lost (${why}); the scheduler loop delivers meanwhile`);
      this.retryTimer = setTimeout(() => void this.connect(), RECONNECT_MS);
      this.retryTimer.unref();
    };
    client.on('error', (e: Error) => onDown(e.message));
    client.on('end', () => onDown('connection ended'));
    client.on('notification', () => this.kick());
    try {
      await client.connect();
      await client.query(`LISTEN ${NEW_NOTIFICATION_CHANNEL}`);
    } catch (e) {
      onDown((e as Error).message);
      return;
    }
    // Rows committed while nobody listened.
    this.kick();
  }

  /** Runs a pass now, or once more after the current one. */
  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.loops.processOnce();
        } catch (e) {
          this.logger.warn(`routing new notifications failed, the scheduler loop retries: ${(e as Error).message}`);
        }
      } while (this.again && !this.stopped);
      this.running = undefined;
    })();
  }
}
