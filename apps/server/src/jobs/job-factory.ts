import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { IdPrefix, newId, type JobType } from '@certctl/domain';
import { rowsOf } from '../database/sql';

export interface NewJob {
  type: JobType;
  certificateId: string;
  targetId?: string | null;
  agentId?: string | null;
  /** Deterministic ids make a repeated request (a loop tick run twice) create one job. */
  id?: string;
  /** Pending (default) or AwaitingApproval (the approval gate, later). */
  status?: 'Pending' | 'AwaitingApproval';
  maxAttempts?: number;
  scheduledAt?: Date;
}

export interface CreatedJob {
  id: string;
  type: JobType;
  certificateId: string;
  targetId: string | null;
  /** False when an open job of the same kind already existed: `id` is that job. */
  created: boolean;
  attempts: number;
}

/**
 * Creates jobs inside the caller's transaction. One open issuance/renewal per certificate
 * and one open deployment per certificate and target (unique partial indexes): asking again
 * returns the open job instead of a second one. Failed issuance/renewal jobs of the
 * certificate are cancelled when a new one is created (the new one supersedes the retry).
 * Enqueue the created ids with JobDispatcher after the transaction commits.
 */
@Injectable()
export class JobFactory {
  async create(m: EntityManager, job: NewJob): Promise<CreatedJob> {
    const id = job.id ?? newId(IdPrefix.Job);
    const issuance = job.type === 'Issuance' || job.type === 'Renewal';
    const inserted = rowsOf<{ id: string }>(
      await m.query(
        `INSERT INTO jobs (id, type, certificate_id, target_id, agent_id, status, max_attempts, scheduled_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8, now()))
         ON CONFLICT DO NOTHING
         RETURNING id`,
        [
          id,
          job.type,
          job.certificateId,
          job.targetId ?? null,
          job.agentId ?? null,
          job.status ?? 'Pending',
          job.maxAttempts ?? 3,
          job.scheduledAt ?? null,
        ],
      ),
    );
    const base = { type: job.type, certificateId: job.certificateId, targetId: job.targetId ?? null, attempts: 0 };
    if (inserted.length === 1) {
      if (issuance) {
        await m.query(
          `UPDATE jobs SET status = 'Cancelled', completed_at = now(), updated_at = now(),
                  last_error = COALESCE(last_error, '') || ' (superseded by ' || $2 || ')'
            WHERE certificate_id = $1 AND type IN ('Issuance', 'Renewal') AND status = 'Failed' AND id <> $2`,
          [job.certificateId, id],
        );
      }
      return { ...base, id, created: true };
    }
    const open = rowsOf<{ id: string; attempts: number }>(
      await m.query(
        issuance
          ? `SELECT id, attempts FROM jobs WHERE (id = $1) OR (certificate_id = $2 AND type IN ('Issuance', 'Renewal')
                AND status IN ('Pending', 'AwaitingCSR', 'AwaitingApproval', 'Running')) ORDER BY (id = $1) DESC LIMIT 1`
          : `SELECT id, attempts FROM jobs WHERE (id = $1) OR (certificate_id = $2 AND target_id = $3 AND type = 'Deployment'
                AND status IN ('Pending', 'AwaitingApproval', 'Running')) ORDER BY (id = $1) DESC LIMIT 1`,
        issuance ? [id, job.certificateId] : [id, job.certificateId, job.targetId ?? null],
      ),
    );
    const existing = open[0];
    if (!existing) throw new Error(`job ${id} was neither created nor found open`);
    return { ...base, id: existing.id, attempts: existing.attempts, created: false };
  }
}
