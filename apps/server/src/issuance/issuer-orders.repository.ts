import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { ActorType } from '@certctl/domain';
import { rowsOf } from '../database/sql';

/** A pending order of an asynchronous CA, with what recording its certificate needs. */
export interface IssuerOrderRow {
  job_id: string;
  certificate_id: string;
  issuer_id: string;
  order_id: string;
  version_id: string;
  /** The CSR the CA signs (its public key is what the issued certificate must carry). */
  csr_pem: string;
  /** Set when the server generated the key (then the version records no CSR). */
  sealed_private_key: Buffer | null;
  key_algorithm: string;
  key_size: number;
  actor_id: string;
  actor_type: ActorType;
  polls: number;
  deadline_at: Date;
}

export type NewIssuerOrder = Omit<IssuerOrderRow, 'polls' | 'deadline_at'> & {
  firstPollAt: Date;
  deadlineAt: Date;
};

/**
 * The SQL of pending CA orders. `next_poll_at` doubles as the schedule and the lease: a
 * poller moves it forward before asking the CA, so two replicas never poll one order at
 * once, and a poller that dies leaves the order due again once its lease runs out.
 */
@Injectable()
export class IssuerOrdersRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  async insert(m: EntityManager, o: NewIssuerOrder): Promise<void> {
    await m.query(
      `INSERT INTO issuer_orders
         (job_id, certificate_id, issuer_id, order_id, version_id, csr_pem, sealed_private_key,
          key_algorithm, key_size, actor_id, actor_type, next_poll_at, deadline_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
      [
        o.job_id,
        o.certificate_id,
        o.issuer_id,
        o.order_id,
        o.version_id,
        o.csr_pem,
        o.sealed_private_key,
        o.key_algorithm,
        o.key_size,
        o.actor_id,
        o.actor_type,
        o.firstPollAt,
        o.deadlineAt,
      ],
    );
  }

  /** The order a job placed earlier (a retried job resumes polling it instead of ordering twice). */
  async forJob(jobId: string): Promise<IssuerOrderRow | undefined> {
    return rowsOf<IssuerOrderRow>(await this.ds.query(`SELECT * FROM issuer_orders WHERE job_id = $1`, [jobId]))[0];
  }

  /** Makes the order due now (a retried job after an outage polls at once). */
  async dueNow(jobId: string): Promise<void> {
    await this.ds.query(`UPDATE issuer_orders SET next_poll_at = now(), updated_at = now() WHERE job_id = $1`, [jobId]);
  }

  /**
   * Takes the lease of a due order whose job waits for its CA: one poller wins, the others
   * get undefined (not due, leased by someone else, or the job moved on).
   */
  async lease(jobId: string, leaseMs: number): Promise<IssuerOrderRow | undefined> {
    return rowsOf<IssuerOrderRow>(
      await this.ds.query(
        `UPDATE issuer_orders o
            SET next_poll_at = now() + make_interval(secs => $2 / 1000.0), polls = o.polls + 1, updated_at = now()
           FROM jobs j
          WHERE o.job_id = $1 AND j.id = o.job_id AND j.status = 'AwaitingIssuer' AND o.next_poll_at <= now()
          RETURNING o.*`,
        [jobId, leaseMs],
      ),
    )[0];
  }

  /** Still pending: the next poll after `delayMs`. */
  async reschedule(jobId: string, delayMs: number, lastStatus: string): Promise<void> {
    await this.ds.query(
      `UPDATE issuer_orders
          SET next_poll_at = now() + make_interval(secs => $2 / 1000.0), last_status = $3, updated_at = now()
        WHERE job_id = $1`,
      [jobId, delayMs, lastStatus.slice(0, 500)],
    );
  }

  /** Orders due for a poll whose job waits for its CA (the safety-net loop enqueues them). */
  async due(limit: number): Promise<{ job_id: string; polls: number }[]> {
    return rowsOf<{ job_id: string; polls: number }>(
      await this.ds.query(
        `SELECT o.job_id, o.polls FROM issuer_orders o JOIN jobs j ON j.id = o.job_id
          WHERE j.status = 'AwaitingIssuer' AND o.next_poll_at <= now()
          ORDER BY o.next_poll_at LIMIT $1`,
        [limit],
      ),
    );
  }

  /** Orders of jobs that will never poll again (completed, cancelled, failed for good). */
  async removeSettled(): Promise<number> {
    const rows = rowsOf<{ job_id: string }>(
      await this.ds.query(
        `DELETE FROM issuer_orders o USING jobs j
          WHERE j.id = o.job_id
            AND (j.status IN ('Completed', 'Cancelled') OR (j.status = 'Failed' AND j.attempts >= j.max_attempts))
          RETURNING o.job_id`,
      ),
    );
    return rows.length;
  }

  async remove(m: EntityManager, jobId: string): Promise<void> {
    await m.query(`DELETE FROM issuer_orders WHERE job_id = $1`, [jobId]);
  }

  /** AwaitingIssuer -> Completed; false when the job moved on meanwhile (cancelled, ...). */
  async completeJob(m: EntityManager, jobId: string): Promise<boolean> {
    const rows = rowsOf<{ id: string }>(
      await m.query(
        `UPDATE jobs SET status = 'Completed', last_error = NULL, completed_at = now(), updated_at = now()
          WHERE id = $1 AND status = 'AwaitingIssuer' RETURNING id`,
        [jobId],
      ),
    );
    return rows.length === 1;
  }

  /**
   * AwaitingIssuer -> Failed. `exhaust` (the CA rejected the order, or it timed out) stops
   * the retry loop; otherwise (the CA was unreachable) the retry loop requeues the job,
   * which resumes polling the same order. Returns the attempts left, or undefined when the
   * job had moved on.
   */
  async failJob(
    m: EntityManager,
    jobId: string,
    error: string,
    exhaust: boolean,
  ): Promise<{ attemptsLeft: number } | undefined> {
    const rows = rowsOf<{ attempts: number; max_attempts: number }>(
      await m.query(
        `UPDATE jobs
            SET status = 'Failed', last_error = $2, updated_at = now(),
                attempts = CASE WHEN $3 THEN GREATEST(attempts, max_attempts) ELSE attempts END
          WHERE id = $1 AND status = 'AwaitingIssuer'
          RETURNING attempts, max_attempts`,
        [jobId, error.slice(0, 2000), exhaust],
      ),
    );
    const r = rows[0];
    return r ? { attemptsLeft: Math.max(0, r.max_attempts - r.attempts) } : undefined;
  }
}
