import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { ApprovalDecision, ApprovalKind, ApprovalState } from '@certctl/domain';

/** A row of `approval_requests`. */
export interface ApprovalRequestRow {
  id: string;
  kind: ApprovalKind;
  state: ApprovalState;
  certificate_id: string | null;
  job_id: string | null;
  profile_id: string | null;
  payload: Record<string, unknown> | null;
  requested_by: string;
  requested_by_type: string;
  required_approvals: number;
  approver_roles: string[];
  decided_by: string | null;
  decided_at: Date | null;
  note: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface ApprovalDecisionRow {
  actor: string;
  actor_type: string;
  decision: ApprovalDecision;
  note: string | null;
  created_at: Date;
}

export const APPROVAL_COLUMNS = `id, kind, state, certificate_id, job_id, profile_id, payload, requested_by,
  requested_by_type, required_approvals, approver_roles, decided_by, decided_at, note, created_at, updated_at`;

const rows = <T>(r: unknown): T[] => (Array.isArray(r) && Array.isArray(r[0]) ? (r[0] as T[]) : (r as T[]));

@Injectable()
export class ApprovalRepository {
  constructor(@InjectDataSource() readonly ds: DataSource) {}

  async insert(
    m: EntityManager,
    r: Omit<ApprovalRequestRow, 'created_at' | 'updated_at' | 'decided_at'> & { decided: boolean },
  ): Promise<ApprovalRequestRow> {
    const inserted = rows<ApprovalRequestRow>(
      await m.query(
        `INSERT INTO approval_requests (id, kind, state, certificate_id, job_id, profile_id, payload, requested_by,
                                        requested_by_type, required_approvals, approver_roles, decided_by, decided_at, note)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CASE WHEN $13 THEN now() END, $14)
         RETURNING ${APPROVAL_COLUMNS}`,
        [
          r.id,
          r.kind,
          r.state,
          r.certificate_id,
          r.job_id,
          r.profile_id,
          r.payload === null ? null : JSON.stringify(r.payload),
          r.requested_by,
          r.requested_by_type,
          r.required_approvals,
          r.approver_roles,
          r.decided_by,
          r.decided,
          r.note,
        ],
      ),
    );
    const row = inserted[0];
    if (!row) throw new Error(`approval request ${r.id} was not stored`);
    return row;
  }

  async find(id: string, m: EntityManager = this.ds.manager): Promise<ApprovalRequestRow | undefined> {
    return rows<ApprovalRequestRow>(
      await m.query(`SELECT ${APPROVAL_COLUMNS} FROM approval_requests WHERE id = $1`, [id]),
    )[0];
  }

  async findByJob(jobId: string, m: EntityManager = this.ds.manager): Promise<ApprovalRequestRow | undefined> {
    return rows<ApprovalRequestRow>(
      await m.query(`SELECT ${APPROVAL_COLUMNS} FROM approval_requests WHERE job_id = $1`, [jobId]),
    )[0];
  }

  async lock(m: EntityManager, id: string): Promise<ApprovalRequestRow | undefined> {
    return rows<ApprovalRequestRow>(
      await m.query(`SELECT ${APPROVAL_COLUMNS} FROM approval_requests WHERE id = $1 FOR UPDATE`, [id]),
    )[0];
  }

  async decisions(id: string, m: EntityManager = this.ds.manager): Promise<ApprovalDecisionRow[]> {
    return rows<ApprovalDecisionRow>(
      await m.query(
        `SELECT actor, actor_type, decision, note, created_at FROM approval_decisions
          WHERE request_id = $1 ORDER BY created_at, actor`,
        [id],
      ),
    );
  }

  /** False when this actor already decided (the primary key makes a double click count once). */
  async addDecision(
    m: EntityManager,
    id: string,
    d: { actor: string; actorType: string; decision: ApprovalDecision; note: string | null },
  ): Promise<boolean> {
    const inserted = rows<{ actor: string }>(
      await m.query(
        `INSERT INTO approval_decisions (request_id, actor, actor_type, decision, note)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING actor`,
        [id, d.actor, d.actorType, d.decision, d.note],
      ),
    );
    return inserted.length === 1;
  }

  async settle(
    m: EntityManager,
    id: string,
    state: Exclude<ApprovalState, 'pending'>,
    decidedBy: string,
    note: string | null,
  ): Promise<ApprovalRequestRow> {
    const updated = rows<ApprovalRequestRow>(
      await m.query(
        `UPDATE approval_requests SET state = $2, decided_by = $3, decided_at = now(), note = COALESCE($4, note), updated_at = now()
          WHERE id = $1 AND state = 'pending'
          RETURNING ${APPROVAL_COLUMNS}`,
        [id, state, decidedBy, note],
      ),
    );
    const row = updated[0];
    if (!row) throw new Error(`approval request ${id} was not pending`);
    return row;
  }

  /** Pending requests created before `before`, oldest first, locked (SKIP LOCKED: replicas share the work). */
  async lockStale(m: EntityManager, before: Date, limit: number): Promise<ApprovalRequestRow[]> {
    return rows<ApprovalRequestRow>(
      await m.query(
        `SELECT ${APPROVAL_COLUMNS} FROM approval_requests
          WHERE state = 'pending' AND created_at < $1
          ORDER BY created_at, id LIMIT $2
          FOR UPDATE SKIP LOCKED`,
        [before, limit],
      ),
    );
  }
}
