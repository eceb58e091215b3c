import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { SENTINEL_AGENT_IDS } from '@certctl/domain';
import { AuditRepository, SYSTEM_ACTOR } from '../audit/audit.repository';
import { rowsOf } from '../database/sql';

/** Audit details list at most this many agent ids (the count is always exact). */
const AUDITED_IDS = 200;

@Injectable()
export class AgentHealthRepository {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly audit: AuditRepository,
  ) {}

  /**
   * Online or Degraded agents whose last heartbeat is older than `offlineAfterMs` (or that
   * never sent one) become Offline in one guarded statement: a heartbeat that lands
   * meanwhile wins (its row is no longer stale). Retired agents and the server-side
   * discovery sentinels (which never heartbeat) are left alone. One audit row per call
   * that changed something, in the same transaction.
   */
  async markStaleOffline(offlineAfterMs: number): Promise<{ id: string; from: string }[]> {
    return this.ds.transaction(async (m) => {
      const rows = rowsOf<{ id: string; from: string }>(
        await m.query(
          `WITH stale AS (
             SELECT id, status FROM agents
              WHERE retired_at IS NULL
                AND status IN ('Online', 'Degraded')
                AND (last_heartbeat_at IS NULL OR last_heartbeat_at < now() - make_interval(secs => $1 / 1000.0))
                AND id <> ALL($2::text[])
              FOR UPDATE SKIP LOCKED)
           UPDATE agents a SET status = 'Offline', updated_at = now()
             FROM stale
            WHERE a.id = stale.id
            RETURNING a.id, stale.status AS "from"`,
          [offlineAfterMs, SENTINEL_AGENT_IDS],
        ),
      );
      if (rows.length > 0) {
        await this.audit.recordDomain(m, SYSTEM_ACTOR, 'agents_marked_offline', 'agent', '', {
          count: rows.length,
          offline_after_ms: offlineAfterMs,
          agent_ids: rows.slice(0, AUDITED_IDS).map((r) => r.id),
        });
      }
      return rows;
    });
  }
}
