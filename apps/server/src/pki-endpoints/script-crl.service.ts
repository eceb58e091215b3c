import { createHash } from 'node:crypto';
import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import * as pkijs from 'pkijs';
import { DomainError, ErrorCode, IssuerType } from '@certctl/domain';
import type { IssuerConnector } from '@certctl/connectors';
import type { EntityManager } from 'typeorm';
import { IssuerConnectors } from '../ca/issuer-connectors';
import { AppConfig } from '../config/config.schema';
import type { ServedCrl } from './crl.service';
import { lockExclusive, PkiRepository } from './pki.repository';

interface ScriptCrlRow {
  issuer_id: string;
  der: Buffer;
  etag: string;
  crl_number: string | null;
  this_update: Date;
  next_update: Date | null;
  generated_at: Date;
  stale: boolean;
}

/** The OpenSSL connector's extra operation (not on the issuer port: only script CAs have it). */
interface CrlFetcher {
  fetchCrl(): Promise<Buffer>;
}

const CRL_NUMBER_OID = '2.5.29.20';
const lockKey = (issuerId: string): string => `script-crl:${issuerId}`;
const hasFetchCrl = (c: IssuerConnector): c is IssuerConnector & CrlFetcher =>
  typeof (c as Partial<CrlFetcher>).fetchCrl === 'function';

/**
 * CRLs of OpenSSL-script issuers: the CA lives outside certctl and its operator's crl_script
 * makes the CRL (`openssl ca -gencrl` over the CA's index); certctl publishes it at
 * /.well-known/pki/crl/<issuer id>, cached in `script_crl_cache`.
 *
 * A cached CRL is served until it is stale (a revocation went through the issuer since its
 * run started), older than CERTCTL_CRL_GENERATION_INTERVAL, or past its nextUpdate; then
 * the script runs again, under an exclusive advisory lock per issuer (one run across
 * replicas; the others wait and take its result). A failing script keeps the previous CRL
 * served while it is valid; without one the answer is 503. No crl_script: 404.
 */
@Injectable()
export class ScriptCrlService implements OnApplicationShutdown {
  private readonly logger = new Logger(ScriptCrlService.name);
  private readonly running = new Map<string, Promise<ScriptCrlRow>>();
  private readonly background = new Set<Promise<unknown>>();

  constructor(
    private readonly repo: PkiRepository,
    private readonly connectors: IssuerConnectors,
    private readonly config: AppConfig,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([...this.background]);
  }

  /** True when the issuer's CRL is this service's (an OpenSSL-script issuer). */
  async serves(issuerId: string): Promise<boolean> {
    return (await this.repo.issuerType(issuerId)) === IssuerType.OpenSSL;
  }

  async get(issuerId: string): Promise<ServedCrl> {
    const row = await this.row(issuerId);
    if (row && this.fresh(row)) return served(row, this.refreshAt(row));
    try {
      const made = await this.regenerate(issuerId);
      return served(made, this.refreshAt(made));
    } catch (e) {
      if (e instanceof DomainError && e.code === ErrorCode.NotFound) throw e;
      // A CRL that is stale but still valid beats none.
      if (row && (!row.next_update || row.next_update.getTime() > Date.now())) {
        this.logger.warn(`issuer ${issuerId}: serving the previous CRL, crl_script failed: ${(e as Error).message}`);
        return served(row, this.refreshAt(row));
      }
      throw new DomainError(
        ErrorCode.Unavailable,
        `the CRL of issuer ${issuerId} cannot be made now (crl_script failed: ${(e as Error).message}); try again later`,
      );
    }
  }

  /**
   * After the issuer's revoke_script ran: marks its CRL stale (every replica then remakes it
   * on the next request) and remakes it in the background.
   */
  async afterRevocation(issuerId: string): Promise<void> {
    if (!(await this.serves(issuerId))) return;
    await this.repo.ds.query(`UPDATE script_crl_cache SET invalidated_at = clock_timestamp() WHERE issuer_id = $1`, [
      issuerId,
    ]);
    const p = this.regenerate(issuerId).catch((e: unknown) => {
      if (!(e instanceof DomainError && e.code === ErrorCode.NotFound)) {
        this.logger.warn(`issuer ${issuerId}: CRL after revocation failed: ${(e as Error).message}`);
      }
    });
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  /** One CRL loop tick: script issuers whose cached CRL is missing, stale or due. */
  async runLoop(): Promise<number> {
    const due: { id: string }[] = await this.repo.ds.query(
      `SELECT i.id
         FROM issuers i
         LEFT JOIN script_crl_cache k ON k.issuer_id = i.id
        WHERE i.type = $1 AND i.config ? 'crl_script'
          AND (k.issuer_id IS NULL OR k.invalidated_at >= k.generated_at
               OR k.generated_at + make_interval(secs => $2) <= now()
               OR k.next_update <= now())
        ORDER BY i.id`,
      [IssuerType.OpenSSL, this.config.scheduler.crlIntervalMs / 1000],
    );
    let done = 0;
    for (const { id } of due) {
      try {
        await this.regenerate(id);
        done++;
      } catch (e) {
        this.logger.warn(`issuer ${id}: CRL regeneration failed: ${(e as Error).message}`);
      }
    }
    return done;
  }

  /** Runs crl_script unless another caller (or replica) just did; one run per issuer in process. */
  private regenerate(issuerId: string): Promise<ScriptCrlRow> {
    const current = this.running.get(issuerId);
    if (current) return current;
    const p = this.generate(issuerId).finally(() => this.running.delete(issuerId));
    this.running.set(issuerId, p);
    return p;
  }

  private async generate(issuerId: string): Promise<ScriptCrlRow> {
    const { connector } = await this.connectors.forRevocation(issuerId, null);
    if (!hasFetchCrl(connector)) throw notFound(issuerId, 'its type has no script CRL');
    return this.repo.ds.transaction(async (m) => {
      await lockExclusive(m, lockKey(issuerId));
      const current = await this.row(issuerId, m);
      if (current && this.fresh(current)) return current; // made while we waited for the lock
      let der: Buffer;
      try {
        der = await connector.fetchCrl();
      } catch (e) {
        if (e instanceof DomainError && /no crl_script is configured/.test(e.message)) {
          throw notFound(issuerId, 'it has no crl_script');
        }
        throw e;
      }
      const parsed = parseCrl(der);
      const etag = `"${createHash('sha256').update(der).digest('hex').slice(0, 24)}"`;
      // generated_at is the transaction's start: a revocation marked after it leaves the row stale.
      const rows: ScriptCrlRow[] = await m.query(
        `INSERT INTO script_crl_cache AS k (issuer_id, der, etag, crl_number, this_update, next_update, generated_at)
         VALUES ($1, $2, $3, $4, $5, $6, now())
         ON CONFLICT (issuer_id) DO UPDATE
           SET der = EXCLUDED.der, etag = EXCLUDED.etag, crl_number = EXCLUDED.crl_number,
               this_update = EXCLUDED.this_update, next_update = EXCLUDED.next_update,
               generated_at = EXCLUDED.generated_at
         RETURNING ${COLUMNS}`,
        [issuerId, der, etag, parsed.crlNumber?.toString() ?? null, parsed.thisUpdate, parsed.nextUpdate ?? null],
      );
      return rows[0];
    });
  }

  private async row(issuerId: string, m: EntityManager = this.repo.ds.manager): Promise<ScriptCrlRow | undefined> {
    const rows: ScriptCrlRow[] = await m.query(`SELECT ${COLUMNS} FROM script_crl_cache k WHERE issuer_id = $1`, [
      issuerId,
    ]);
    return rows[0];
  }

  /** When the cached CRL is due to be remade: the refresh interval, or its nextUpdate if sooner. */
  private refreshAt(row: ScriptCrlRow): Date {
    const byAge = row.generated_at.getTime() + this.config.scheduler.crlIntervalMs;
    return new Date(row.next_update ? Math.min(byAge, row.next_update.getTime()) : byAge);
  }

  private fresh(row: ScriptCrlRow): boolean {
    return !row.stale && this.refreshAt(row).getTime() > Date.now();
  }
}

const COLUMNS = `k.issuer_id, k.der, k.etag, k.crl_number, k.this_update, k.next_update, k.generated_at,
  (k.invalidated_at IS NOT NULL AND k.invalidated_at >= k.generated_at) AS stale`;

function notFound(issuerId: string, why: string): DomainError {
  return new DomainError(ErrorCode.NotFound, `issuer ${issuerId} publishes no CRL here: ${why}`);
}

/**
 * thisUpdate, nextUpdate and the CRL number of a DER CRL; anything that does not parse as
 * a CertificateList is the script's fault (503 upstream, never served).
 */
export function parseCrl(der: Buffer): { thisUpdate: Date; nextUpdate?: Date; crlNumber?: bigint } {
  let crl: pkijs.CertificateRevocationList;
  try {
    crl = pkijs.CertificateRevocationList.fromBER(new Uint8Array(der));
  } catch (e) {
    throw new DomainError(ErrorCode.Unavailable, `crl_script output is not a CRL (${(e as Error).message})`);
  }
  const ext = crl.crlExtensions?.extensions.find((x) => x.extnID === CRL_NUMBER_OID);
  const value = ext?.parsedValue as { valueBlock?: { valueHexView?: Uint8Array } } | undefined;
  const hex = value?.valueBlock?.valueHexView ? Buffer.from(value.valueBlock.valueHexView).toString('hex') : '';
  return {
    thisUpdate: crl.thisUpdate.value,
    ...(crl.nextUpdate ? { nextUpdate: crl.nextUpdate.value } : {}),
    ...(hex ? { crlNumber: BigInt(`0x${hex}`) } : {}),
  };
}

function served(row: ScriptCrlRow, refreshAt: Date): ServedCrl {
  return {
    der: row.der,
    etag: row.etag,
    crlNumber: row.crl_number ? BigInt(row.crl_number) : 0n,
    thisUpdate: row.this_update,
    // Caches may keep it until certctl would remake it (never past the CRL's own nextUpdate).
    nextUpdate: refreshAt,
  };
}
