import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditRepository, SYSTEM_ACTOR } from '../audit/audit.repository';
import { rowsOf } from '../database/sql';
import { JobEntity } from './job.entity';

/** The job engine's SQL: every state change is one guarded statement. */
@Injectable()
export class JobEngineRepository {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly audit: AuditRepository,
  ) {}

  /**
   * The only way a job starts: Pending -> Running, atomically. A duplicated or replayed
   * queue message, or a job waiting for approval, a CSR or already cancelled, gets null.
   * Deployment jobs are never claimed here: the agent that owns the target claims them
   * through the agent work API.
   */
  async claim(id: string): Promise<JobEntity | null> {
    const rows = rowsOf<{ id: string }>(
      await this.ds.query(
        `UPDATE jobs
            SET status = 'Running', attempts = attempts + 1, started_at = now(), updated_at = now()
          WHERE id = $1 AND status = 'Pending' AND scheduled_at <= now() AND type <> 'Deployment'
          RETURNING id`,
        [id],
      ),
    );
    return rows.length ? this.ds.getRepository(JobEntity).findOneBy({ id }) : null;
  }

  /** Running -> Completed | AwaitingCSR | AwaitingIssuer | Failed; `exhaust` stops the retry loop for it. */
  async finish(
    id: string,
    to: 'Completed' | 'AwaitingCSR' | 'AwaitingIssuer' | 'Failed',
    error: string | null = null,
    exhaust = false,
  ): Promise<boolean> {
    const rows = rowsOf<{ id: string }>(
      await this.ds.query(
        `UPDATE jobs
            SET status = $2,
                last_error = CASE WHEN $2 = 'Failed' THEN $3 ELSE NULL END,
                attempts = CASE WHEN $4 THEN GREATEST(attempts, max_attempts) ELSE attempts END,
                completed_at = CASE WHEN $2 = 'Completed' THEN now() ELSE completed_at END,
                updated_at = now()
          WHERE id = $1 AND status = 'Running'
          RETURNING id`,
        [id, to, error?.slice(0, 2000) ?? null, exhaust],
      ),
    );
    return rows.length === 1;
  }

  /** Pending jobs that are due, oldest first (the job-processor loop's safety net). */
  async duePending(limit: number): Promise<{ id: string; attempts: number }[]> {
    return this.ds.query(
      `SELECT id, attempts FROM jobs
        WHERE status = 'Pending' AND scheduled_at <= now() AND type <> 'Deployment'
        ORDER BY scheduled_at, id LIMIT $1`,
      [limit],
    );
  }

  /**
   * Failed jobs with attempts left go back to Pending after a backoff of 2^attempts
   * minutes (capped at an hour). SKIP LOCKED keeps concurrent ticks from fighting.
   */
  async requeueFailed(limit: number): Promise<{ id: string; attempts: number }[]> {
    return rowsOf<{ id: string; attempts: number }>(
      await this.ds.query(
        `UPDATE jobs SET status = 'Pending', scheduled_at = now(), updated_at = now()
          WHERE id IN (
            SELECT id FROM jobs
             WHERE status = 'Failed'
               AND attempts < max_attempts
               AND updated_at <= now() - LEAST(interval '1 minute' * power(2, attempts), interval '1 hour')
             ORDER BY updated_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED)
          RETURNING id, attempts`,
        [limit],
      ),
    );
  }

  /** The certificate version a job recorded, if any (one per job: unique index on job_id). */
  async recordedVersionId(jobId: string): Promise<string | null> {
    const rows = rowsOf<{ id: string }>(
      await this.ds.query(`SELECT id FROM certificate_versions WHERE job_id = $1`, [jobId]),
    );
    return rows[0]?.id ?? null;
  }

  /**
   * Stalled jobs, at most `limit` per call, each with an audit row in the same transaction:
   * - AwaitingCSR too long: Failed, may be retried.
   * - AwaitingApproval too long without an approval request (none is ever created that way;
   *   a defensive net): Failed for good (a retry would skip the approval gate). Jobs with a
   *   request are expired by the approval reaper (request expired, job Cancelled).
   * - Running too long (since started_at): whoever claimed it (an agent for a deployment,
   *   a server process for the rest) is presumed gone: Failed, and the retry loop takes it
   *   from there while attempts remain. An Issuance/Renewal job whose certificate version
   *   was recorded (the process died between recording and finishing) is Completed instead:
   *   the certificate was issued, and retrying would issue it twice.
   * Rows locked by anyone (a job being finished, or a version being recorded for it, which
   * key-share locks the job row) are skipped: the next tick sees them settled.
   */
  async reapTimeouts(t: {
    awaitingCsrMs: number;
    awaitingApprovalMs: number;
    runningMs: number;
    limit: number;
  }): Promise<ReapedJob[]> {
    return this.ds.transaction(async (m) => {
      const reaped = rowsOf<ReapedJob>(
        await m.query(
          `WITH stale AS (
             SELECT j.id, j.status AS from_status, j.type, j.agent_id, j.started_at,
                    (j.status = 'Running' AND j.type IN ('Issuance', 'Renewal')
                      AND EXISTS (SELECT 1 FROM certificate_versions v WHERE v.job_id = j.id)) AS recorded
               FROM jobs j
              WHERE (j.status = 'AwaitingCSR' AND j.updated_at < now() - make_interval(secs => $1 / 1000.0))
                 OR (j.status = 'AwaitingApproval' AND j.updated_at < now() - make_interval(secs => $2 / 1000.0)
                     AND NOT EXISTS (SELECT 1 FROM approval_requests a WHERE a.job_id = j.id))
                 OR (j.status = 'Running'
                     AND COALESCE(j.started_at, j.updated_at) < now() - make_interval(secs => $3 / 1000.0))
              ORDER BY j.updated_at, j.id
              LIMIT $4
              FOR UPDATE OF j SKIP LOCKED)
           UPDATE jobs j
              SET status = CASE WHEN s.recorded THEN 'Completed' ELSE 'Failed' END,
                  last_error = CASE
                    WHEN s.recorded THEN NULL
                    WHEN s.from_status = 'AwaitingCSR' THEN 'timed out waiting for the agent''s CSR'
                    WHEN s.from_status = 'AwaitingApproval' THEN 'timed out waiting for approval'
                    WHEN s.type = 'Deployment'
                      THEN 'timed out: Running for more than ' || $5 || ' with no status from agent '
                           || COALESCE(s.agent_id, '?') || ' (presumed gone)'
                    ELSE 'timed out: Running for more than ' || $5
                         || ' without finishing (the server process running it presumed gone)'
                  END,
                  attempts = CASE WHEN s.from_status = 'AwaitingApproval' THEN GREATEST(j.attempts, j.max_attempts)
                                  ELSE j.attempts END,
                  completed_at = CASE WHEN s.recorded THEN now() ELSE j.completed_at END,
                  updated_at = now()
             FROM stale s
            WHERE j.id = s.id
            RETURNING j.id, j.type, j.certificate_id, s.from_status, j.status, j.attempts, j.max_attempts,
                      j.last_error, s.started_at`,
          [t.awaitingCsrMs, t.awaitingApprovalMs, t.runningMs, t.limit, formatDuration(t.runningMs)],
        ),
      );
      for (const r of reaped) {
        await this.audit.recordDomain(
          m,
          SYSTEM_ACTOR,
          r.status === 'Completed' ? 'job_completed_after_timeout' : 'job_timed_out',
          'job',
          r.id,
          {
            type: r.type,
            certificate_id: r.certificate_id,
            from_status: r.from_status,
            to_status: r.status,
            ...(r.from_status === 'Running' ? { started_at: r.started_at } : {}),
            ...(r.status === 'Completed'
              ? { reason: 'its certificate version was recorded but the job was never finished' }
              : { last_error: r.last_error, retried: r.attempts < r.max_attempts }),
          },
        );
      }
      return reaped;
    });
  }
}

export interface ReapedJob {
  id: string;
  type: string;
  certificate_id: string | null;
  from_status: 'AwaitingCSR' | 'AwaitingApproval' | 'Running';
  status: 'Failed' | 'Completed';
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  started_at: Date | null;
}

/** 3600000 -> "1h", 5400000 -> "1h30m", 90000 -> "1m30s" (the config's duration style). */
export function formatDuration(ms: number): string {
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ];
  let left = Math.max(0, Math.round(ms));
  let out = '';
  for (const [u, size] of units) {
    const n = Math.floor(left / size);
    if (n > 0) out += `${n}${u}`;
    left -= n * size;
  }
  return out || '0ms';
}
