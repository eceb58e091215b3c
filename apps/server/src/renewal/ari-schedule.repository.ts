import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { IssuerType } from '@certctl/domain';
import { rowsOf } from '../database/sql';
import { RENEWAL_CHECK_STATUSES } from './renewal-rules';

/** A certificate whose renewal information is due to be asked for (its current version). */
export interface AriDue {
  certificate_id: string;
  issuer_id: string;
  version_id: string;
  pem_chain: string;
}

/** What the CA answered for one certificate version. */
export type AriUpdate =
  | {
      kind: 'window';
      start: Date;
      end: Date;
      /** Used when the stored row has another window (or none): the pick for this window. */
      renewAt: Date;
      explanationUrl?: string;
      nextPollAt: Date;
    }
  | { kind: 'none'; nextPollAt: Date }
  | { kind: 'error'; message: string; nextPollAt: Date };

/** The current version of each certificate: the newest row of certificate_versions. */
const CURRENT_VERSION = `(SELECT v.id FROM certificate_versions v
                           WHERE v.certificate_id = mc.id
                           ORDER BY v.created_at DESC, v.id DESC LIMIT 1)`;

/**
 * certificate_renewal_info: the ARI window of each ACME certificate's current version.
 * Writes are single upserts whose CASE keeps the renew_at already stored for the same
 * version and window, so two replicas asking at once agree on the first pick.
 */
@Injectable()
export class AriScheduleRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /**
   * Live certificates of enabled ACME issuers whose current version has no renewal
   * information yet, or whose next poll is due; longest-waiting first, `limit` at most.
   */
  async due(now: Date, limit: number): Promise<AriDue[]> {
    return rowsOf<AriDue>(
      await this.ds.query(
        `SELECT mc.id AS certificate_id, mc.issuer_id, v.id AS version_id, v.pem_chain
           FROM managed_certificates mc
           JOIN issuers iss ON iss.id = mc.issuer_id AND iss.type = $1 AND iss.enabled
           JOIN certificate_versions v ON v.id = ${CURRENT_VERSION}
           LEFT JOIN certificate_renewal_info ri ON ri.certificate_id = mc.id
          WHERE mc.archived_at IS NULL
            AND mc.status = ANY($2::text[])
            AND mc.expires_at > $3
            AND (ri.certificate_id IS NULL OR ri.version_id <> v.id OR ri.next_poll_at <= $3)
          ORDER BY ri.next_poll_at NULLS FIRST, mc.id
          LIMIT $4`,
        [IssuerType.ACME, RENEWAL_CHECK_STATUSES, now, limit],
      ),
    );
  }

  async record(due: AriDue, u: AriUpdate): Promise<void> {
    const window = u.kind === 'window';
    await this.ds.query(
      `INSERT INTO certificate_renewal_info AS ri
              (certificate_id, version_id, window_start, window_end, renew_at, explanation_url,
               next_poll_at, last_error, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
       ON CONFLICT (certificate_id) DO UPDATE SET
         -- A failed request keeps what was known for this version; another version starts empty.
         window_start = CASE WHEN $9 AND ri.version_id = EXCLUDED.version_id THEN ri.window_start
                             ELSE EXCLUDED.window_start END,
         window_end = CASE WHEN $9 AND ri.version_id = EXCLUDED.version_id THEN ri.window_end
                           ELSE EXCLUDED.window_end END,
         explanation_url = CASE WHEN $9 AND ri.version_id = EXCLUDED.version_id THEN ri.explanation_url
                                ELSE EXCLUDED.explanation_url END,
         -- The pick stays while the version and the window stay (the same on every replica).
         renew_at = CASE
           WHEN $9 AND ri.version_id = EXCLUDED.version_id THEN ri.renew_at
           WHEN ri.version_id = EXCLUDED.version_id AND ri.renew_at IS NOT NULL
                AND ri.window_start = EXCLUDED.window_start AND ri.window_end = EXCLUDED.window_end
             THEN ri.renew_at
           ELSE EXCLUDED.renew_at END,
         version_id = EXCLUDED.version_id,
         next_poll_at = EXCLUDED.next_poll_at,
         last_error = EXCLUDED.last_error,
         updated_at = now()`,
      [
        due.certificate_id,
        due.version_id,
        window ? u.start : null,
        window ? u.end : null,
        window ? u.renewAt : null,
        window ? (u.explanationUrl ?? null) : null,
        u.nextPollAt,
        u.kind === 'error' ? u.message.slice(0, 1000) : null,
        u.kind === 'error',
      ],
    );
  }
}
