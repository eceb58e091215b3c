import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { IdPrefix, newId } from '@certctl/domain';
import type { NotifierType } from '@certctl/connectors';
import { rowsOf } from '../database/sql';
import { matrixChannels, resolveRoute, type RoutingMatrix } from './routing-matrix';

/** Failed sends before a row is dead. */
export const MAX_DELIVERY_ATTEMPTS = 5;

/** A claimed row with what its message needs. */
export interface ClaimedNotification {
  id: string;
  type: string;
  channel: string;
  recipient: string;
  message: string;
  severity: string;
  retry_count: number;
  certificate_id: string | null;
  common_name: string | null;
  expires_at: Date | null;
  created_at: Date;
}

/** A row to put on the queue; the BullMQ job id includes retry_count (see NotificationDispatcher). */
export interface DueNotification {
  id: string;
  channel: string;
  retry_count: number;
}

/** The channel a row is for, lower-cased (producers write `Email`, routing writes `email`). */
const CHANNEL = `lower(n.channel)`;
const DUE = `n.status IN ('pending', 'failed') AND n.routed_at IS NOT NULL
             AND (n.next_retry_at IS NULL OR n.next_retry_at <= now())
             AND (n.claimed_until IS NULL OR n.claimed_until < now())`;

/** Delivery state of notification rows: routing, claims, outcomes, requeue. */
@Injectable()
export class DeliveryRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /**
   * Fans out rows that producers inserted (routed_at NULL) along the certificate's renewal
   * policy matrix, else the default routing: the row itself stays as its own channel
   * (producers write Email), and one sibling row per other routed channel is added,
   * with the same event fields and a dedup key of its own. SKIP LOCKED and the routed_at
   * guard make concurrent replicas route each row once.
   */
  async routeNew(configured: readonly NotifierType[], limit: number): Promise<number> {
    return this.ds.transaction(async (m) => {
      const rows = rowsOf<{
        id: string;
        type: string;
        channel: string;
        severity: string;
        routing: RoutingMatrix | null;
      }>(
        await m.query(
          `SELECT n.id, n.type, n.channel, n.severity, p.notification_routing AS routing
             FROM notification_events n
             LEFT JOIN managed_certificates c ON c.id = n.certificate_id
             LEFT JOIN renewal_policies p ON p.id = c.renewal_policy_id
            WHERE n.routed_at IS NULL ORDER BY n.created_at, n.id LIMIT $1 FOR UPDATE OF n SKIP LOCKED`,
          [limit],
        ),
      );
      for (const r of rows) {
        const own = r.channel.toLowerCase();
        const routes = resolveRoute(r, r.routing, configured);
        let siblings = routes.filter((c) => c !== own);
        // A policy's matrix may leave out the producer's channel (email): the producer's row,
        // which carries the event's dedup key, then becomes the first routed channel's row.
        // With no routed channel configured it stays as it is, so the event is not lost. The
        // default routing always includes email, whose row waits while email is unconfigured.
        const listed = matrixChannels(r, r.routing);
        if (listed && !listed.includes(own as NotifierType) && routes.length) {
          await m.query(`UPDATE notification_events SET channel = $2, recipient = '' WHERE id = $1`, [r.id, routes[0]]);
          siblings = routes.slice(1);
        }
        if (siblings.length) await this.insertSiblings(m, r.id, siblings);
      }
      if (rows.length) {
        await m.query(`UPDATE notification_events SET routed_at = now() WHERE id = ANY($1::text[])`, [
          rows.map((r) => r.id),
        ]);
      }
      return rows.length;
    });
  }

  private async insertSiblings(m: EntityManager, sourceId: string, channels: NotifierType[]): Promise<void> {
    await m.query(
      `INSERT INTO notification_events
              (id, type, certificate_id, channel, recipient, message, severity, status, dedup_key, routed_at,
               created_at, updated_at)
       SELECT c.id, s.type, s.certificate_id, c.channel, '', s.message, s.severity, 'pending',
              CASE WHEN s.dedup_key IS NULL THEN NULL ELSE s.dedup_key || '#' || c.channel END, now(),
              s.created_at, now()
         FROM notification_events s, unnest($2::text[], $3::text[]) AS c(id, channel)
        WHERE s.id = $1
       ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING`,
      [sourceId, channels.map(() => newId(IdPrefix.Notification)), channels],
    );
  }

  /** Rows in `status` due for a send on a configured channel (failed ones once their backoff is over). */
  async due(
    configured: readonly NotifierType[],
    status: 'pending' | 'failed',
    limit: number,
  ): Promise<DueNotification[]> {
    return this.ds.query(
      `SELECT n.id, n.channel, n.retry_count FROM notification_events n
        WHERE ${DUE} AND ${CHANNEL} = ANY($1::text[]) AND n.status = $3
        ORDER BY n.next_retry_at NULLS FIRST, n.created_at, n.id
        LIMIT $2`,
      [configured, limit, status],
    );
  }

  /**
   * Takes the row for one send, or returns null when it is not due, already sent, dead, or
   * held by another sender. The lease outlives the adapter's timeout; a sender that dies
   * leaves the row due again once the lease ends.
   */
  async claim(id: string, leaseMs: number): Promise<ClaimedNotification | null> {
    const rows = rowsOf<ClaimedNotification>(
      await this.ds.query(
        `WITH claimed AS (
           UPDATE notification_events n SET claimed_until = now() + $2 * interval '1 millisecond'
            WHERE n.id = $1 AND ${DUE}
            RETURNING n.id, n.type, n.channel, n.recipient, n.message, n.severity, n.retry_count,
                      n.certificate_id, n.created_at)
         SELECT c.id, c.type, c.channel, c.message, c.severity, c.retry_count, c.certificate_id, c.created_at,
                -- An email without a recipient (no owner address) goes to the certificate's team:
                -- the addresses of its owners; failing that, the channel's default list.
                CASE WHEN c.recipient <> '' OR lower(c.channel) <> 'email' OR mc.team_id IS NULL THEN c.recipient
                     ELSE COALESCE((SELECT string_agg(DISTINCT o.email, ',' ORDER BY o.email) FROM owners o
                                     WHERE o.team_id = mc.team_id AND o.email <> ''), '')
                END AS recipient,
                mc.common_name, mc.expires_at
           FROM claimed c LEFT JOIN managed_certificates mc ON mc.id = c.certificate_id`,
        [id, leaseMs],
      ),
    );
    return rows[0] ?? null;
  }

  async markSent(id: string): Promise<void> {
    await this.ds.query(
      `UPDATE notification_events
          SET status = 'sent', sent_at = now(), next_retry_at = NULL, claimed_until = NULL, updated_at = now()
        WHERE id = $1`,
      [id],
    );
  }

  /**
   * Records a failed send: retry_count + 1, then `failed` with next_retry_at after 2^n minutes
   * (n = failures so far, capped at an hour), or `dead` after the last attempt or at once
   * when the failure is permanent.
   */
  async markFailed(id: string, error: string, permanent: boolean): Promise<{ status: string; retry_count: number }> {
    const rows = rowsOf<{ status: string; retry_count: number }>(
      await this.ds.query(
        `UPDATE notification_events
            SET retry_count = retry_count + 1,
                status = CASE WHEN $3 OR retry_count + 1 >= $4 THEN 'dead' ELSE 'failed' END,
                next_retry_at = CASE WHEN $3 OR retry_count + 1 >= $4 THEN NULL
                                     ELSE now() + LEAST(interval '1 minute' * power(2, retry_count + 1),
                                                        interval '1 hour') END,
                last_error = $2, claimed_until = NULL, updated_at = now()
          WHERE id = $1
          RETURNING status, retry_count`,
        [id, error.slice(0, 2000), permanent, MAX_DELIVERY_ATTEMPTS],
      ),
    );
    return rows[0];
  }

  /** Gives a row whose channel is not configured back (it stays pending for the inbox). */
  async release(id: string): Promise<void> {
    await this.ds.query(`UPDATE notification_events SET claimed_until = NULL WHERE id = $1`, [id]);
  }

  /** dead or failed -> pending with a fresh attempt budget; null when the row is in another state. */
  async requeue(m: EntityManager, id: string): Promise<DueNotification | null> {
    const rows = rowsOf<DueNotification>(
      await m.query(
        `UPDATE notification_events
            SET status = 'pending', retry_count = 0, next_retry_at = NULL, claimed_until = NULL, updated_at = now()
          WHERE id = $1 AND status IN ('dead', 'failed')
          RETURNING id, channel, retry_count`,
        [id],
      ),
    );
    return rows[0] ?? null;
  }

  async deadCount(): Promise<number> {
    const rows: { n: number }[] = await this.ds.query(
      `SELECT count(*)::int AS n FROM notification_events WHERE status = 'dead'`,
    );
    return rows[0].n;
  }
}
