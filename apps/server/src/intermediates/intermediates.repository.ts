import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { rowsOf } from '../database/sql';

type CaState = 'active' | 'draining' | 'retired';

/**
 * A certificate version is live while it is unexpired and its serial has no revocation
 * (matched by version, or by issuer and serial as revocations record them).
 */
const LIVE_VERSION = `v.not_after > now()
  AND NOT EXISTS (SELECT 1 FROM certificate_revocations r WHERE r.version_id = v.id)
  AND NOT EXISTS (SELECT 1 FROM certificate_revocations r
                   WHERE COALESCE(r.issuer_id, '') = COALESCE(v.issuer_id, '') AND r.serial_number = v.serial_number)`;

/** SQL of the CA hierarchy's lifecycle (creation itself goes through CaStore.insertGenerated). */
@Injectable()
export class IntermediatesRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(fn: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(fn);
  }

  /**
   * Locks a CA row: `share` while a child is created under it (several may be at once),
   * `update` while it is retired, so a CA never gains a child once it stops being active.
   */
  async lockState(
    m: EntityManager,
    caId: string,
    mode: 'share' | 'update',
  ): Promise<{ id: string; issuer_id: string; parent_id: string | null; state: CaState } | undefined> {
    return rowsOf<{ id: string; issuer_id: string; parent_id: string | null; state: CaState }>(
      await m.query(
        `SELECT id, issuer_id, parent_id, state FROM issuer_cas WHERE id = $1 FOR ${mode === 'share' ? 'SHARE' : 'UPDATE'}`,
        [caId],
      ),
    )[0];
  }

  /** Child CAs that are not retired yet (active or draining). */
  async unretiredChildren(m: EntityManager, caId: string): Promise<{ id: string; state: CaState }[]> {
    return rowsOf<{ id: string; state: CaState }>(
      await m.query(
        `SELECT id, state FROM issuer_cas WHERE parent_id = $1 AND state <> 'retired' ORDER BY created_at, id`,
        [caId],
      ),
    );
  }

  /** Other top CAs of the issuer that are not retired. */
  async otherUnretiredTops(m: EntityManager, issuerId: string, caId: string): Promise<number> {
    const rows = rowsOf<{ n: number }>(
      await m.query(
        `SELECT count(*)::int AS n FROM issuer_cas
          WHERE issuer_id = $1 AND parent_id IS NULL AND state <> 'retired' AND id <> $2`,
        [issuerId, caId],
      ),
    );
    return rows[0]?.n ?? 0;
  }

  /** How many live certificates one CA signed. */
  async liveCertificates(caId: string, m: EntityManager = this.ds.manager): Promise<number> {
    const rows = rowsOf<{ n: number }>(
      await m.query(`SELECT count(*)::int AS n FROM certificate_versions v WHERE v.ca_id = $1 AND ${LIVE_VERSION}`, [
        caId,
      ]),
    );
    return rows[0]?.n ?? 0;
  }

  /** Live certificates per CA of an issuer (CAs without any are absent). */
  async liveCertificatesByCa(issuerId: string): Promise<Map<string, number>> {
    const rows = rowsOf<{ ca_id: string; n: number }>(
      await this.ds.query(
        `SELECT v.ca_id, count(*)::int AS n FROM certificate_versions v
          WHERE v.ca_id IN (SELECT id FROM issuer_cas WHERE issuer_id = $1) AND ${LIVE_VERSION}
          GROUP BY v.ca_id`,
        [issuerId],
      ),
    );
    return new Map(rows.map((r) => [r.ca_id, r.n]));
  }

  async setState(m: EntityManager, caId: string, state: CaState): Promise<void> {
    await m.query(
      `UPDATE issuer_cas
          SET state = $2::text, retired_at = CASE WHEN $2::text = 'retired' THEN now() ELSE NULL END, updated_at = now()
        WHERE id = $1`,
      [caId, state],
    );
  }
}
