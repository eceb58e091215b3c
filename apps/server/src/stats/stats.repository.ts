import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { OPEN_JOB_STATUSES } from '@certctl/domain';

/** Agents heartbeating within this window count as online (certctl's rule). */
export const AGENT_ONLINE_WINDOW = '5 minutes';
/** The "expiring soon" horizon of the summary. */
export const EXPIRING_WINDOW = '30 days';

export interface SummaryRow {
  cert_total: number;
  cert_expiring: number;
  cert_expired: number;
  cert_revoked: number;
  by_status: Record<string, number> | null;
  agent_total: number;
  agent_online: number;
  agent_degraded: number;
  job_open: number;
  job_failed: number;
  job_completed: number;
  notif_pending: number;
  notif_dead: number;
  generated_at: Date;
}

/**
 * Dashboard aggregates: each endpoint is one SQL statement of grouped counts; day
 * buckets are UTC days and come back zero-filled from generate_series.
 */
@Injectable()
export class StatsRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  async summary(): Promise<SummaryRow> {
    const rows: SummaryRow[] = await this.ds.query(
      `SELECT c.*, s.by_status, a.*, j.*, n.*, now() AS generated_at
         FROM (SELECT count(*) FILTER (WHERE archived_at IS NULL)::int AS cert_total,
                      count(*) FILTER (WHERE archived_at IS NULL AND status NOT IN ('Revoked', 'Expired')
                                         AND expires_at >= now()
                                         AND expires_at < now() + interval '${EXPIRING_WINDOW}')::int AS cert_expiring,
                      count(*) FILTER (WHERE archived_at IS NULL AND status <> 'Revoked'
                                         AND (status = 'Expired' OR expires_at < now()))::int AS cert_expired,
                      count(*) FILTER (WHERE archived_at IS NULL AND status = 'Revoked')::int AS cert_revoked
                 FROM managed_certificates) c,
              (SELECT json_object_agg(status, n) AS by_status
                 FROM (SELECT status, count(*)::int AS n FROM managed_certificates GROUP BY status) g) s,
              (SELECT count(*)::int AS agent_total,
                      count(*) FILTER (WHERE status = 'Online'
                                         AND last_heartbeat_at >= now() - interval '${AGENT_ONLINE_WINDOW}')::int
                        AS agent_online,
                      count(*) FILTER (WHERE status = 'Degraded'
                                         AND last_heartbeat_at >= now() - interval '${AGENT_ONLINE_WINDOW}')::int
                        AS agent_degraded
                 FROM agents WHERE retired_at IS NULL) a,
              (SELECT count(*) FILTER (WHERE status = ANY($1::text[]))::int AS job_open,
                      count(*) FILTER (WHERE status = 'Failed')::int AS job_failed,
                      count(*) FILTER (WHERE status = 'Completed')::int AS job_completed
                 FROM jobs) j,
              (SELECT count(*) FILTER (WHERE status = 'pending')::int AS notif_pending,
                      count(*) FILTER (WHERE status = 'dead')::int AS notif_dead
                 FROM notification_events) n`,
      [OPEN_JOB_STATUSES],
    );
    return rows[0];
  }

  async countByStatus(): Promise<{ status: string; count: number }[]> {
    return this.ds.query(`SELECT status, count(*)::int AS count FROM managed_certificates GROUP BY status`);
  }

  /**
   * Live (not archived or revoked) certificates expiring from now until the end of the
   * `days`-th UTC day, bucketed by `width` days starting today.
   */
  async expirationTimeline(days: number, width: number): Promise<{ date: string; count: number }[]> {
    return this.ds.query(
      `WITH t AS (SELECT (now() AT TIME ZONE 'UTC')::date AS today),
            agg AS (
              SELECT ((c.expires_at AT TIME ZONE 'UTC')::date - t.today) / $2::int AS i, count(*)::int AS n
                FROM managed_certificates c, t
               WHERE c.archived_at IS NULL
                 AND c.status <> 'Revoked'
                 AND c.expires_at >= now()
                 AND c.expires_at < ((t.today + $1::int)::timestamp AT TIME ZONE 'UTC')
               GROUP BY 1)
       SELECT to_char(t.today + s.i * $2::int, 'YYYY-MM-DD') AS date, COALESCE(agg.n, 0)::int AS count
         FROM t
        CROSS JOIN generate_series(0, ($1::int + $2::int - 1) / $2::int - 1) AS s(i)
         LEFT JOIN agg ON agg.i = s.i
        ORDER BY s.i`,
      [days, width],
    );
  }

  /** Jobs finished (Completed / Failed) per UTC day over the last `days` days, today included. */
  async jobTrends(days: number): Promise<{ date: string; completed_count: number; failed_count: number }[]> {
    return this.ds.query(
      `WITH t AS (SELECT (now() AT TIME ZONE 'UTC')::date - ($1::int - 1) AS first_day),
            agg AS (
              SELECT (COALESCE(j.completed_at, j.updated_at) AT TIME ZONE 'UTC')::date AS day,
                     count(*) FILTER (WHERE j.status = 'Completed')::int AS completed,
                     count(*) FILTER (WHERE j.status = 'Failed')::int AS failed
                FROM jobs j, t
               WHERE j.status IN ('Completed', 'Failed')
                 AND COALESCE(j.completed_at, j.updated_at) >= (t.first_day::timestamp AT TIME ZONE 'UTC')
               GROUP BY 1)
       SELECT to_char(t.first_day + s.i, 'YYYY-MM-DD') AS date,
              COALESCE(agg.completed, 0)::int AS completed_count,
              COALESCE(agg.failed, 0)::int AS failed_count
         FROM t
        CROSS JOIN generate_series(0, $1::int - 1) AS s(i)
         LEFT JOIN agg ON agg.day = t.first_day + s.i
        ORDER BY s.i`,
      [days],
    );
  }

  /** Certificate versions issued per UTC day over the last `days` days, today included. */
  async issuanceRate(days: number): Promise<{ date: string; issued_count: number }[]> {
    return this.ds.query(
      `WITH t AS (SELECT (now() AT TIME ZONE 'UTC')::date - ($1::int - 1) AS first_day),
            agg AS (
              SELECT (v.created_at AT TIME ZONE 'UTC')::date AS day, count(*)::int AS n
                FROM certificate_versions v, t
               WHERE v.created_at >= (t.first_day::timestamp AT TIME ZONE 'UTC')
               GROUP BY 1)
       SELECT to_char(t.first_day + s.i, 'YYYY-MM-DD') AS date, COALESCE(agg.n, 0)::int AS issued_count
         FROM t
        CROSS JOIN generate_series(0, $1::int - 1) AS s(i)
         LEFT JOIN agg ON agg.day = t.first_day + s.i
        ORDER BY s.i`,
      [days],
    );
  }
}
