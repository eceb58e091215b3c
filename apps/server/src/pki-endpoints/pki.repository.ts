import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { CrlEntry, CrlReason } from '@certctl/pki';
import { rowsOf } from '../database/sql';
import { SHORT_LIVED_MAX_TTL_SECONDS } from '../renewal/renewal-rules';

/** The CA a CRL/OCSP URL id names, with what serving it needs. */
export interface ServedCa {
  id: string;
  issuer_id: string;
  issuer_type: string;
  cert_pem: string;
  not_after: Date;
}

/** A row of crlCacheOverview. */
export interface CrlCacheOverviewRow {
  issuer_id: string;
  ca_id: string | null;
  parent_id: string | null;
  source: 'local_ca' | 'script';
  crl_number: string | null;
  this_update: Date;
  next_update: Date | null;
  size_bytes: number;
  etag: string;
  stale: boolean;
  updated_at: Date;
}

export interface CrlCacheRow {
  ca_id: string;
  crl_number: string;
  der: Buffer;
  this_update: Date;
  next_update: Date;
  etag: string;
  stale: boolean;
}

/** What OCSP says about one serial of one CA. */
export interface SerialStatus {
  serial: string;
  /** No certificate with this serial was signed by the CA. */
  known: boolean;
  /** Profile max TTL under an hour: left out of CRLs, answered good. */
  shortLived: boolean;
  revokedAt?: Date;
  reason?: CrlReason;
}

export interface OcspCacheKey {
  caId: string;
  serial: string;
  /** CertID hash algorithm and parameters form, e.g. `sha1`, `sha256-noparams`. */
  form: string;
}

/** Advisory lock keys shared by revocation and the CRL/OCSP caches (see RevocationCaches). */
export const crlLockKey = (caId: string): string => `crl:${caId}`;
export const ocspLockKey = (caId: string, serial: string): string => `ocsp:${caId}:${serial}`;

export async function lockShared(m: EntityManager, key: string): Promise<void> {
  await m.query(`SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))`, [key]);
}

export async function lockExclusive(m: EntityManager, key: string): Promise<void> {
  await m.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [key]);
}

/** SQL of the CRL and OCSP endpoints: CAs, revocation status, and the two caches. */
@Injectable()
export class PkiRepository {
  constructor(@InjectDataSource() readonly ds: DataSource) {}

  /**
   * The CA a URL id names: an issuer id names the issuer's top CA, a CA id (`ica-...`) an
   * intermediate (see urlIdOf). Undefined when neither exists.
   */
  async servedCa(urlId: string): Promise<ServedCa | undefined> {
    return rowsOf<ServedCa>(
      await this.ds.query(
        `SELECT c.id, c.issuer_id, i.type AS issuer_type, c.cert_pem, c.not_after
           FROM issuer_cas c JOIN issuers i ON i.id = c.issuer_id
          WHERE (c.id = $1 AND c.parent_id IS NOT NULL) OR (c.issuer_id = $1 AND c.parent_id IS NULL)
          ORDER BY c.parent_id NULLS LAST
          LIMIT 1`,
        [urlId],
      ),
    )[0];
  }

  async issuerType(issuerId: string): Promise<string | undefined> {
    return rowsOf<{ type: string }>(await this.ds.query(`SELECT type FROM issuers WHERE id = $1`, [issuerId]))[0]?.type;
  }

  // ---- CRL ---------------------------------------------------------------------------

  async crlCache(caId: string, m: EntityManager = this.ds.manager): Promise<CrlCacheRow | undefined> {
    return rowsOf<CrlCacheRow>(
      await m.query(
        `SELECT ca_id, crl_number::text AS crl_number, der, this_update, next_update, etag, stale
           FROM crl_cache WHERE ca_id = $1`,
        [caId],
      ),
    )[0];
  }

  /**
   * Every cached CRL, for the admin view: the Local CAs' (crl_cache) and the script issuers'
   * (script_crl_cache), by issuer then CA. No DER bytes, only their size.
   */
  async crlCacheOverview(): Promise<CrlCacheOverviewRow[]> {
    return rowsOf<CrlCacheOverviewRow>(
      await this.ds.query(
        `SELECT c.issuer_id, c.id AS ca_id, c.parent_id, 'local_ca' AS source, k.crl_number::text AS crl_number,
                k.this_update, k.next_update, octet_length(k.der) AS size_bytes, k.etag, k.stale, k.updated_at
           FROM crl_cache k JOIN issuer_cas c ON c.id = k.ca_id
         UNION ALL
         SELECT s.issuer_id, NULL, NULL, 'script', s.crl_number, s.this_update, s.next_update,
                octet_length(s.der), s.etag, s.invalidated_at IS NOT NULL, COALESCE(s.invalidated_at, s.generated_at)
           FROM script_crl_cache s
          ORDER BY 1, 2 NULLS FIRST`,
      ),
    );
  }

  /**
   * Revoked, unexpired certificates the CA signed, oldest revocation first; short-lived
   * ones (profile max TTL under an hour) are left out. A revocation names its version, or
   * (older rows) the issuer and serial.
   */
  async crlEntries(m: EntityManager, caId: string): Promise<CrlEntry[]> {
    const rows = rowsOf<{ serial_number: string; reason: string; revoked_at: Date; invalidity_date: Date | null }>(
      await m.query(
        `SELECT DISTINCT ON (v.serial_number) v.serial_number, r.reason, r.revoked_at, r.invalidity_date
           FROM certificate_revocations r
           JOIN certificate_versions v
             ON v.id = r.version_id
             OR (r.version_id IS NULL AND v.issuer_id = r.issuer_id AND v.serial_number = r.serial_number)
           LEFT JOIN managed_certificates mc ON mc.id = v.certificate_id
           LEFT JOIN certificate_profiles p ON p.id = mc.profile_id
          WHERE v.ca_id = $1
            AND v.not_after > now()
            AND (p.max_ttl_seconds IS NULL OR p.max_ttl_seconds >= $2)
          ORDER BY v.serial_number, r.revoked_at`,
        [caId, SHORT_LIVED_MAX_TTL_SECONDS],
      ),
    );
    return rows
      .sort((a, b) => a.revoked_at.getTime() - b.revoked_at.getTime())
      .map((r) => ({
        serialHex: r.serial_number,
        revokedAt: r.revoked_at,
        reason: r.reason as CrlReason,
        ...(r.invalidity_date ? { invalidityDate: r.invalidity_date } : {}),
      }));
  }

  async saveCrl(
    m: EntityManager,
    row: { caId: string; crlNumber: bigint; der: Buffer; thisUpdate: Date; nextUpdate: Date; etag: string },
  ): Promise<void> {
    await m.query(
      `INSERT INTO crl_cache (ca_id, crl_number, der, this_update, next_update, etag, stale, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, false, now())
       ON CONFLICT (ca_id) DO UPDATE
         SET crl_number = EXCLUDED.crl_number, der = EXCLUDED.der, this_update = EXCLUDED.this_update,
             next_update = EXCLUDED.next_update, etag = EXCLUDED.etag, stale = false, updated_at = now()`,
      [row.caId, row.crlNumber.toString(), row.der, row.thisUpdate, row.nextUpdate, row.etag],
    );
  }

  /**
   * CAs of Local CA issuers, not expired, whose CRL is missing, marked stale, or past half
   * its validity: what the CRL loop regenerates.
   */
  async casNeedingCrl(): Promise<string[]> {
    return rowsOf<{ id: string }>(
      await this.ds.query(
        `SELECT c.id
           FROM issuer_cas c
           JOIN issuers i ON i.id = c.issuer_id AND i.type = 'LocalCA'
           LEFT JOIN crl_cache k ON k.ca_id = c.id
          WHERE c.not_after > now()
            AND (k.ca_id IS NULL OR k.stale
                 OR now() >= k.this_update + (k.next_update - k.this_update) / 2)
          ORDER BY c.created_at, c.id`,
      ),
    ).map((r) => r.id);
  }

  async markCrlStale(m: EntityManager, caId: string): Promise<void> {
    await m.query(`UPDATE crl_cache SET stale = true, updated_at = now() WHERE ca_id = $1`, [caId]);
  }

  // ---- OCSP --------------------------------------------------------------------------

  /** Status of each serial (canonical hex) among the certificates the CA signed. */
  async statuses(caId: string, serials: string[], m: EntityManager = this.ds.manager): Promise<SerialStatus[]> {
    const rows = rowsOf<{
      serial_number: string;
      max_ttl_seconds: number | null;
      revoked_at: Date | null;
      reason: string | null;
    }>(
      await m.query(
        `SELECT v.serial_number, p.max_ttl_seconds, r.revoked_at, r.reason
           FROM certificate_versions v
           LEFT JOIN managed_certificates mc ON mc.id = v.certificate_id
           LEFT JOIN certificate_profiles p ON p.id = mc.profile_id
           LEFT JOIN LATERAL (
             SELECT x.revoked_at, x.reason FROM certificate_revocations x
              WHERE x.version_id = v.id
                 OR (x.version_id IS NULL AND COALESCE(x.issuer_id, '') = COALESCE(v.issuer_id, '')
                     AND x.serial_number = v.serial_number)
              ORDER BY x.revoked_at LIMIT 1) r ON true
          WHERE v.ca_id = $1 AND v.serial_number = ANY($2::text[])`,
        [caId, serials],
      ),
    );
    const bySerial = new Map(rows.map((r) => [r.serial_number, r]));
    return serials.map((serial): SerialStatus => {
      const r = bySerial.get(serial);
      if (!r) return { serial, known: false, shortLived: false };
      const shortLived = r.max_ttl_seconds !== null && r.max_ttl_seconds < SHORT_LIVED_MAX_TTL_SECONDS;
      return r.revoked_at && !shortLived
        ? { serial, known: true, shortLived, revokedAt: r.revoked_at, reason: (r.reason ?? 'unspecified') as CrlReason }
        : { serial, known: true, shortLived };
    });
  }

  /** A pre-signed response still fresh at `freshUntil` (its next_update is later). */
  async cachedOcsp(
    key: OcspCacheKey,
    freshUntil: Date,
    m: EntityManager = this.ds.manager,
  ): Promise<{ der: Buffer; this_update: Date; next_update: Date } | undefined> {
    return rowsOf<{ der: Buffer; this_update: Date; next_update: Date }>(
      await m.query(
        `SELECT der, this_update, next_update FROM ocsp_responses
          WHERE ca_id = $1 AND serial_number = $2 AND cert_id_form = $3 AND next_update > $4`,
        [key.caId, key.serial, key.form, freshUntil],
      ),
    )[0];
  }

  async saveOcsp(m: EntityManager, key: OcspCacheKey, der: Buffer, thisUpdate: Date, nextUpdate: Date): Promise<void> {
    await m.query(
      `INSERT INTO ocsp_responses (ca_id, serial_number, cert_id_form, der, this_update, next_update)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (ca_id, serial_number, cert_id_form) DO UPDATE
         SET der = EXCLUDED.der, this_update = EXCLUDED.this_update, next_update = EXCLUDED.next_update`,
      [key.caId, key.serial, key.form, der, thisUpdate, nextUpdate],
    );
  }

  async deleteOcsp(m: EntityManager, caId: string, serial: string): Promise<void> {
    await m.query(`DELETE FROM ocsp_responses WHERE ca_id = $1 AND serial_number = $2`, [caId, serial]);
  }

  // ---- OCSP responders ---------------------------------------------------------------

  /** The newest responder of the CA that is still valid. */
  async currentResponder(
    caId: string,
    m: EntityManager = this.ds.manager,
  ): Promise<{ id: string; cert_pem: string; sealed_key: Buffer; not_after: Date } | undefined> {
    return rowsOf<{ id: string; cert_pem: string; sealed_key: Buffer; not_after: Date }>(
      await m.query(
        `SELECT id, cert_pem, sealed_key, not_after FROM ocsp_responders
          WHERE ca_id = $1 AND not_after > now() ORDER BY not_after DESC, id LIMIT 1`,
        [caId],
      ),
    )[0];
  }

  async insertResponder(
    m: EntityManager,
    r: { id: string; caId: string; certPem: string; sealedKey: Buffer; notBefore: Date; notAfter: Date },
  ): Promise<void> {
    await m.query(
      `INSERT INTO ocsp_responders (id, ca_id, cert_pem, sealed_key, not_before, not_after)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [r.id, r.caId, r.certPem, r.sealedKey, r.notBefore, r.notAfter],
    );
  }
}
