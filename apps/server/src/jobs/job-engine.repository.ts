import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { rowsOf } from '../database/sql';
import { JobEntity } from './job.entity';

/** The job engine's SQL: every state change is one guarded statement. */
@Injectable()
export class JobEngineRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

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

  /** Running -> Completed | AwaitingCSR | Failed; `exhaust` stops the retry loop for it. */
  async finish(
    id: string,
    to: 'Completed' | 'AwaitingCSR' | 'Failed',
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

  /**
   * Stalled waits become Failed. A job that waited too long for a CSR may be retried; one
   * that waited too long for approval may not (a retry would skip the approval gate).
   */
  async reapTimeouts(awaitingCsrMs: number, awaitingApprovalMs: number): Promise<{ id: string; status: string }[]> {
    return rowsOf<{ id: string; status: string }>(
      await this.ds.query(
        `UPDATE jobs j
            SET status = 'Failed',
                last_error = CASE WHEN j.status = 'AwaitingCSR'
                                  THEN 'timed out waiting for the agent''s CSR'
                                  ELSE 'timed out waiting for approval' END,
                attempts = CASE WHEN j.status = 'AwaitingApproval' THEN GREATEST(j.attempts, j.max_attempts)
                                ELSE j.attempts END,
                updated_at = now()
          WHERE (j.status = 'AwaitingCSR' AND j.updated_at < now() - make_interval(secs => $1 / 1000.0))
             OR (j.status = 'AwaitingApproval' AND j.updated_at < now() - make_interval(secs => $2 / 1000.0))
          RETURNING j.id, 'Failed' AS status`,
        [awaitingCsrMs, awaitingApprovalMs],
      ),
    );
  }
}
