import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { IdPrefix, newId, type ActorType, type JobType } from '@certctl/domain';
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
  /** Who asked (the approval requester); default: the server itself. */
  requestedBy?: { actorId: string; actorType: ActorType };
}

/**
 * The approval gate of issuance (libs/approval, wired by the approvals module): whether the
 * certificate's profile requires approval, and the request recorded with the job.
 */
export interface IssuanceGate {
  /** The approval policy when the certificate's profile requires approval, else undefined. */
  check(m: EntityManager, certificateId: string): Promise<{ profileId: string; policy: unknown } | undefined>;
  /** Records the request for a new gated job; true when bypass approved it at once. */
  request(
    m: EntityManager,
    r: {
      jobId: string;
      certificateId: string;
      gate: { profileId: string; policy: unknown };
      requestedBy: { actorId: string; actorType: ActorType };
    },
  ): Promise<boolean>;
}

export interface CreatedJob {
  id: string;
  type: JobType;
  certificateId: string;
  targetId: string | null;
  /** False when an open job of the same kind already existed: `id` is that job. */
  created: boolean;
  attempts: number;
  /** Pending: enqueue it after commit; AwaitingApproval: it waits for its approval request. */
  status: string;
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
  private gate?: IssuanceGate;

  /** Set once by the approvals module: every Issuance/Renewal job then passes the gate. */
  useGate(gate: IssuanceGate): void {
    this.gate = gate;
  }

  async create(m: EntityManager, job: NewJob): Promise<CreatedJob> {
    const id = job.id ?? newId(IdPrefix.Job);
    const issuance = job.type === 'Issuance' || job.type === 'Renewal';
    const gated = issuance && this.gate ? await this.gate.check(m, job.certificateId) : undefined;
    const status = gated ? 'AwaitingApproval' : (job.status ?? 'Pending');
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
          status,
          job.maxAttempts ?? 3,
          job.scheduledAt ?? null,
        ],
      ),
    );
    const base = { type: job.type, certificateId: job.certificateId, targetId: job.targetId ?? null, attempts: 0 };
    if (inserted.length === 1) {
      let finalStatus = status;
      if (gated && this.gate) {
        // The request is written in this transaction: a gated job never exists without it.
        const bypassed = await this.gate.request(m, {
          jobId: id,
          certificateId: job.certificateId,
          gate: gated,
          requestedBy: job.requestedBy ?? { actorId: 'system', actorType: 'System' },
        });
        if (bypassed) {
          await m.query(`UPDATE jobs SET status = 'Pending', updated_at = now() WHERE id = $1`, [id]);
          finalStatus = 'Pending';
        }
      }
      if (issuance) {
        await m.query(
          `UPDATE jobs SET status = 'Cancelled', completed_at = now(), updated_at = now(),
                  last_error = COALESCE(last_error, '') || ' (superseded by ' || $2 || ')'
            WHERE certificate_id = $1 AND type IN ('Issuance', 'Renewal') AND status = 'Failed' AND id <> $2`,
          [job.certificateId, id],
        );
      }
      return { ...base, id, created: true, status: finalStatus };
    }
    const open = rowsOf<{ id: string; attempts: number; status: string }>(
      await m.query(
        issuance
          ? `SELECT id, attempts, status FROM jobs WHERE (id = $1) OR (certificate_id = $2 AND type IN ('Issuance', 'Renewal')
                AND status IN ('Pending', 'AwaitingCSR', 'AwaitingApproval', 'AwaitingIssuer', 'Running')) ORDER BY (id = $1) DESC LIMIT 1`
          : `SELECT id, attempts, status FROM jobs WHERE (id = $1) OR (certificate_id = $2 AND target_id = $3 AND type = 'Deployment'
                AND status IN ('Pending', 'AwaitingApproval', 'Running')) ORDER BY (id = $1) DESC LIMIT 1`,
        issuance ? [id, job.certificateId] : [id, job.certificateId, job.targetId ?? null],
      ),
    );
    const existing = open[0];
    if (!existing) throw new Error(`job ${id} was neither created nor found open`);
    return {
      ...base,
      id: existing.id,
      attempts: existing.attempts,
      created: false,
      status: existing.status,
    };
  }
}
