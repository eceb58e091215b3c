import { createHash } from 'node:crypto';
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Client, type Notification } from 'pg';
import { AppConfig } from '../config/config.schema';
import type { OcspAnswer } from './ocsp.service';

/** The Postgres channel revocations notify on (pg_notify in the revocation transaction). */
export const OCSP_INVALIDATE_CHANNEL = 'certctl_ocsp_invalidate';
/** application_name of the LISTEN connection (visible in pg_stat_activity). */
export const OCSP_LISTENER_APP_NAME = 'certctl-ocsp-listen';

/** Longest raw request kept as a key: one CertID without nonce is about 100 bytes. */
export const MAX_RAW_KEY_BYTES = 1024;

const PING_EVERY_MS = 5_000;
const PING_TIMEOUT_MS = 3_000;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;

/** A cached successful response with what sending it needs, computed once. */
export interface HotOcspAnswer extends OcspAnswer {
  cacheable: { thisUpdate: Date; nextUpdate: Date };
  /** Strong ETag (SHA-1 of the DER), Last-Modified and Expires header values. */
  etag: string;
  lastModified: string;
  expires: string;
}

/** One object per entry: with its key and DER about 2 KiB of memory. */
interface Entry extends HotOcspAnswer {
  /** Served while now is before this (half the validity left, as for `ocsp_responses`). */
  freshUntil: number;
  caId: string;
  /** `caId serial`: the index key revocations invalidate by. */
  serialKey: string;
  caEpoch: number;
}

/** The key of a GET (or HEAD) request: its URL as received. */
export function getKey(originalUrl: string): string {
  return `G ${originalUrl}`;
}

/** The key of a POST: the URL and the body bytes; undefined for bodies too large to keep. */
export function postKey(originalUrl: string, body: Buffer): string | undefined {
  return body.length > 0 && body.length <= MAX_RAW_KEY_BYTES
    ? `P ${originalUrl}\n${body.toString('latin1')}`
    : undefined;
}

/**
 * Process-local cache of pre-signed OCSP responses, keyed on the raw request (GET URL or
 * POST URL + body bytes), so a hit skips ASN.1 parsing and the database. Bounded (LRU,
 * CERTCTL_OCSP_CACHE_MAX_ENTRIES); an entry is served while at least half its validity is
 * left, like the `ocsp_responses` row it came from. Only answers for serials the CA signed
 * are kept (unknown serials are not, so a later issuance needs no invalidation), never
 * nonce or multi-CertID answers.
 *
 * Multi-replica invalidation: a revocation calls pg_notify in its transaction (delivered on
 * commit only). Every replica LISTENs on a dedicated connection and drops the serial's
 * entries when the notification arrives; the replica that revoked drops the CA's entries
 * after commit, before the API call returns. While the LISTEN connection is down the cache
 * is neither read nor filled, and it is flushed on every (re)connect: a notification missed
 * meanwhile cannot leave a stale answer. A liveness query every few seconds catches a
 * connection that died silently.
 *
 * Fills race invalidations: a filler takes a ticket (the generation) before it reads the
 * status, and its entry is dropped if any invalidation or flush happened since.
 */
@Injectable()
export class OcspHotCache implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OcspHotCache.name);
  private entries = new Map<string, Entry>();
  /** The keys of each serial: usually one, so a string until there are more. */
  private bySerial = new Map<string, string | string[]>();
  private readonly caEpochs = new Map<string, number>();
  private generation = 0;
  private listening = false;
  private stopped = false;
  private client?: Client;
  private retryMs = RETRY_MIN_MS;
  private retryTimer?: NodeJS.Timeout;
  private pingTimer?: NodeJS.Timeout;
  private connecting?: Promise<void>;
  readonly maxEntries: number;
  private readonly halfValidityMs: number;
  /** Counters (tests and diagnostics). */
  readonly stats = { hits: 0, fastPathHits: 0, misses: 0, flushes: 0, evictions: 0, invalidations: 0 };

  constructor(private readonly config: AppConfig) {
    this.maxEntries = config.pki.ocspCacheMaxEntries;
    this.halfValidityMs = config.pki.ocspResponseValidityMs / 2;
  }

  get enabled(): boolean {
    return this.maxEntries > 0;
  }

  /** True while entries may be served and stored: the LISTEN connection is up. */
  get usable(): boolean {
    return this.listening && this.maxEntries > 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Backend pid of the LISTEN connection while it is up (diagnostics, tests). */
  get listenerPid(): number | undefined {
    return this.listening ? (this.client as { processID?: number } | undefined)?.processID : undefined;
  }

  onApplicationBootstrap(): void {
    if (this.enabled) this.connecting = this.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    await this.connecting?.catch(() => undefined);
    this.lost();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  /** The fresh entry of `key`, or undefined (also when the cache is not usable now). */
  get(key: string, now = Date.now()): HotOcspAnswer | undefined {
    if (!this.listening) return undefined;
    const e = this.entries.get(key);
    if (!e) {
      this.stats.misses++;
      return undefined;
    }
    if (now >= e.freshUntil || e.caEpoch !== (this.caEpochs.get(e.caId) ?? 0)) {
      this.remove(key, e);
      this.stats.misses++;
      return undefined;
    }
    // Most recently used last: eviction takes the first.
    this.entries.delete(key);
    this.entries.set(key, e);
    this.stats.hits++;
    return e;
  }

  /** Taken before reading a status; put() refuses entries whose ticket is outdated. */
  ticket(): number {
    return this.generation;
  }

  /**
   * Stores the answer of a known serial under `key` when the cache is usable and nothing was
   * invalidated since `ticket`; returns the answer with its header values computed.
   */
  put(key: string, ticket: number, caId: string, serial: string, answer: OcspAnswer): OcspAnswer {
    if (!answer.cacheable || answer.status !== 'successful') return answer;
    const freshUntil = answer.cacheable.nextUpdate.getTime() - this.halfValidityMs;
    const serialKey = `${caId} ${serial}`;
    const e: Entry = {
      der: answer.der,
      status: 'successful',
      cacheable: answer.cacheable,
      etag: `"${createHash('sha1').update(answer.der).digest('hex')}"`,
      lastModified: answer.cacheable.thisUpdate.toUTCString(),
      expires: answer.cacheable.nextUpdate.toUTCString(),
      freshUntil,
      caId,
      serialKey,
      caEpoch: this.caEpochs.get(caId) ?? 0,
    };
    if (!this.usable || ticket !== this.generation || Date.now() >= freshUntil) return e;
    const old = this.entries.get(key);
    if (old) this.remove(key, old);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.remove(oldest, this.entries.get(oldest) as Entry);
      this.stats.evictions++;
    }
    this.entries.set(key, e);
    const keys = this.bySerial.get(serialKey);
    if (keys === undefined) this.bySerial.set(serialKey, key);
    else if (typeof keys === 'string') this.bySerial.set(serialKey, [keys, key]);
    else keys.push(key);
    return e;
  }

  /** Drops the entries of one serial (a revocation on any replica, via NOTIFY). */
  invalidateSerial(caId: string, serial: string): void {
    this.generation++;
    this.stats.invalidations++;
    const serialKey = `${caId} ${serial}`;
    const keys = this.bySerial.get(serialKey);
    if (keys === undefined) return;
    if (typeof keys === 'string') this.entries.delete(keys);
    else for (const k of keys) this.entries.delete(k);
    this.bySerial.delete(serialKey);
  }

  /** Drops every entry of a CA at once (lazily, on their next lookup). */
  invalidateCa(caId: string): void {
    this.generation++;
    this.stats.invalidations++;
    this.caEpochs.set(caId, (this.caEpochs.get(caId) ?? 0) + 1);
  }

  flush(): void {
    this.generation++;
    this.stats.flushes++;
    this.entries = new Map();
    this.bySerial = new Map();
  }

  private remove(key: string, e: Entry): void {
    this.entries.delete(key);
    const keys = this.bySerial.get(e.serialKey);
    if (keys === key) this.bySerial.delete(e.serialKey);
    else if (Array.isArray(keys)) {
      const rest = keys.filter((k) => k !== key);
      if (rest.length === 0) this.bySerial.delete(e.serialKey);
      else this.bySerial.set(e.serialKey, rest.length === 1 ? rest[0] : rest);
    }
  }

  // ---- LISTEN connection -------------------------------------------------------------

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new Client({
      connectionString: this.config.database.url,
      application_name: OCSP_LISTENER_APP_NAME,
      keepAlive: true,
      connectionTimeoutMillis: 5_000,
    });
    this.client = client;
    let down = false;
    const onDown = (why: string): void => {
      if (down) return;
      down = true;
      if (this.client === client) this.client = undefined;
      client.removeAllListeners('notification');
      client.end().catch(() => undefined);
      if (this.stopped) return;
      if (this.listening)
        this.logger.warn(`OCSP cache invalidation channel lost (${why}): cache off until reconnected`);
      this.lost();
      this.scheduleReconnect();
    };
    client.on('error', (e: Error) => onDown(e.message));
    client.on('end', () => onDown('connection ended'));
    client.on('notification', (n: Notification) => this.onNotification(n));
    try {
      await client.connect();
      await client.query(`LISTEN ${OCSP_INVALIDATE_CHANNEL}`);
    } catch (e) {
      onDown((e as Error).message);
      return;
    }
    if (down || this.stopped) return;
    // Anything notified while no connection listened is lost: start empty.
    this.flush();
    this.listening = true;
    this.retryMs = RETRY_MIN_MS;
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => void this.ping(client, onDown), PING_EVERY_MS);
    this.pingTimer.unref();
  }

  private async ping(client: Client, onDown: (why: string) => void): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.query('SELECT 1'),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('liveness query timed out')), PING_TIMEOUT_MS);
        }),
      ]);
    } catch (e) {
      onDown((e as Error).message);
    } finally {
      clearTimeout(timer);
    }
  }

  private lost(): void {
    this.listening = false;
    clearInterval(this.pingTimer);
    this.flush();
  }

  private scheduleReconnect(): void {
    clearTimeout(this.retryTimer);
    const wait = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    this.retryTimer = setTimeout(() => {
      this.connecting = this.connect();
    }, wait);
    this.retryTimer.unref();
  }

  private onNotification(n: Notification): void {
    if (n.channel !== OCSP_INVALIDATE_CHANNEL) return;
    const [caId, serial] = (n.payload ?? '').split(' ');
    if (caId && serial) this.invalidateSerial(caId, serial);
    else this.flush();
  }
}
