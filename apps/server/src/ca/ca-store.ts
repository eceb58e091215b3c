import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { conflict, DomainError, ErrorCode, IdPrefix, IssuerType, newId, notFound } from '@certctl/domain';
import {
  issuerConfigSpec,
  checkConfig,
  localCaConfig,
  unsealConfig,
  type ConfigObject,
  type LocalCaConfig,
} from '@certctl/connectors';
import {
  createRootCa,
  exportPrivateKeyPem,
  loadCaSigner,
  type CaSigner,
  type CreatedCa,
  type KeyAlgorithm,
} from '@certctl/pki';
import { AuditRepository, SYSTEM_ACTOR } from '../audit/audit.repository';
import { rowsOf } from '../database/sql';
import { SecretBox } from '../secrets/secret-box';
import { caKeyContext, sealContext } from '../secrets/seal-contexts';

/** A row of `issuer_cas`. */
export interface IssuerCaRow {
  id: string;
  issuer_id: string;
  parent_id: string | null;
  name: string;
  source: 'generated' | 'external';
  state: 'active' | 'draining' | 'retired';
  subject: string;
  serial_number: string;
  fingerprint_sha256: string;
  cert_pem: string;
  key_algorithm: string;
  path_len_constraint: number | null;
  not_before: Date;
  not_after: Date;
  retired_at: Date | null;
  created_at: Date;
}

/** A CA this server can sign with. */
export interface LoadedCa {
  row: IssuerCaRow;
  signer: CaSigner;
  /** The id in the CRL/OCSP/CA-issuer URLs of what it signs: the issuer id for the top CA, else the CA id. */
  urlId: string;
}

export interface IssuerForCa {
  id: string;
  name: string;
  type: string;
  enabled: boolean;
  config: ConfigObject;
}

const CA_COLUMNS = `id, issuer_id, parent_id, name, source, state, subject, serial_number, fingerprint_sha256,
  cert_pem, key_algorithm, path_len_constraint, not_before, not_after, retired_at, created_at`;

const KEY_ALGORITHM_NAMES: Record<string, KeyAlgorithm> = {
  'ECDSA-P256': 'ECDSA-P256',
  'ECDSA-P384': 'ECDSA-P384',
  'RSA-2048': 'RSA-2048',
  'RSA-3072': 'RSA-3072',
  'RSA-4096': 'RSA-4096',
};

/**
 * Which CA signs new certificates: the deepest CA reachable from the top through CAs that
 * are active and not expired (every CA on the way too), the newest on a tie; the top when
 * none is. So a new issuing CA under the current issuing CA's parent takes over (same
 * depth, newer), a new CA deeper than the current one takes over, and a new intermediate
 * higher up does not until an issuing CA is created below it.
 */
export function issuingCaId(
  rows: readonly Pick<IssuerCaRow, 'id' | 'parent_id' | 'state' | 'not_after' | 'created_at'>[],
  topId: string,
  now = Date.now(),
): string {
  const children = new Map<string, typeof rows>();
  for (const r of rows) {
    if (r.parent_id === null || r.state !== 'active' || r.not_after.getTime() <= now) continue;
    children.set(r.parent_id, [...(children.get(r.parent_id) ?? []), r]);
  }
  let best = { id: topId, depth: 0, created: 0 };
  const seen = new Set<string>([topId]);
  let level: string[] = [topId];
  for (let depth = 1; level.length > 0; depth++) {
    const next: string[] = [];
    for (const parent of level) {
      for (const c of children.get(parent) ?? []) {
        if (seen.has(c.id)) continue;
        seen.add(c.id);
        next.push(c.id);
        const created = c.created_at.getTime();
        const newer = created > best.created || (created === best.created && c.id > best.id);
        if (depth > best.depth || (depth === best.depth && newer)) {
          best = { id: c.id, depth, created };
        }
      }
    }
    level = next;
  }
  return best.id;
}

export function urlIdOf(row: Pick<IssuerCaRow, 'parent_id' | 'issuer_id' | 'id'>): string {
  return row.parent_id === null ? row.issuer_id : row.id;
}

/**
 * The CA material of Local CA issuers. Self-signed mode: the root is generated on first
 * use (one per issuer across replicas: an advisory lock serializes the creation) and its
 * key is sealed with the config encryption key. Sub-CA mode: the CA certificate and key
 * are read from the configured files and registered as an `external` row so what it signs
 * can point at it. Signers are cached per CA id: CA material never changes once stored.
 */
@Injectable()
export class CaStore {
  private readonly logger = new Logger(CaStore.name);
  private readonly signers = new Map<string, Promise<CaSigner>>();

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly box: SecretBox,
    private readonly audit: AuditRepository,
  ) {}

  /** The issuer row with its unsealed, validated configuration. 404 when it does not exist. */
  async issuer(issuerId: string, m: EntityManager = this.ds.manager): Promise<IssuerForCa> {
    const rows = rowsOf<{
      id: string;
      name: string;
      type: IssuerType;
      enabled: boolean;
      config: Record<string, unknown>;
      secret_config: Buffer | null;
      secret_fields: string[];
    }>(
      await m.query(`SELECT id, name, type, enabled, config, secret_config, secret_fields FROM issuers WHERE id = $1`, [
        issuerId,
      ]),
    );
    const row = rows[0];
    if (!row) throw notFound('issuer', issuerId);
    const config = await unsealConfig(
      { config: row.config, secretConfig: row.secret_config, secretFields: row.secret_fields },
      this.box,
      sealContext('issuers', row.id),
    );
    const checked = checkConfig(issuerConfigSpec(row.type), config, 'config');
    if (!checked.ok) {
      throw conflict(`issuer ${row.id} has an invalid configuration: ${checked.issues.join('; ')}`);
    }
    return { id: row.id, name: row.name, type: row.type, enabled: row.enabled, config: checked.config };
  }

  /** Every CA of an issuer, oldest first. */
  async list(issuerId: string, m: EntityManager = this.ds.manager): Promise<IssuerCaRow[]> {
    return rowsOf<IssuerCaRow>(
      await m.query(`SELECT ${CA_COLUMNS} FROM issuer_cas WHERE issuer_id = $1 ORDER BY created_at, id`, [issuerId]),
    );
  }

  async row(caId: string, m: EntityManager = this.ds.manager): Promise<IssuerCaRow | undefined> {
    return rowsOf<IssuerCaRow>(await m.query(`SELECT ${CA_COLUMNS} FROM issuer_cas WHERE id = $1`, [caId]))[0];
  }

  /** A CA by id with its signer (it must belong to a Local CA issuer). */
  async load(caId: string): Promise<LoadedCa> {
    const row = await this.row(caId);
    if (!row) throw notFound('CA', caId);
    return { row, signer: await this.signer(row), urlId: urlIdOf(row) };
  }

  /**
   * The top CA of a Local CA issuer (created or registered on first use). In sub-CA mode a
   * changed certificate file registers a new top row; the old one stays for what it signed.
   */
  async top(issuer: IssuerForCa): Promise<LoadedCa> {
    if (issuer.type !== IssuerType.LocalCA) {
      throw conflict(`issuer ${issuer.id} is ${issuer.type}; only Local CA issuers hold CA material here`);
    }
    const cfg = localCaConfig.schema.parse(issuer.config);
    const row = cfg.ca_cert_path ? await this.registerExternal(issuer, cfg) : await this.ensureRoot(issuer, cfg);
    return { row, signer: await this.signer(row, cfg), urlId: urlIdOf(row) };
  }

  /**
   * The CA that signs new certificates of the issuer (see issuingCaId): the deepest CA
   * reachable from the current top through active, unexpired CAs, the newest on a tie. A
   * draining CA stops issuing at once, and so does everything below it.
   */
  async issuing(issuer: IssuerForCa): Promise<LoadedCa> {
    const top = await this.top(issuer);
    const rows = await this.list(issuer.id);
    const id = issuingCaId(rows, top.row.id);
    const row = rows.find((r) => r.id === id);
    if (!row || id === top.row.id) return top;
    return { row, signer: await this.signer(row), urlId: urlIdOf(row) };
  }

  /** The issuer's top CA row if it exists already (read only: never creates or registers one). */
  async topRow(issuerId: string, m: EntityManager = this.ds.manager): Promise<IssuerCaRow | undefined> {
    return rowsOf<IssuerCaRow>(
      await m.query(
        `SELECT ${CA_COLUMNS} FROM issuer_cas WHERE issuer_id = $1 AND parent_id IS NULL ORDER BY created_at DESC, id DESC LIMIT 1`,
        [issuerId],
      ),
    )[0];
  }

  /**
   * The CA a URL id names (see urlIdOf): a CA id (`ica-...`), else an issuer id for its top
   * CA. Read only; undefined when neither exists (or the issuer has no CA yet).
   */
  async byUrlId(urlId: string, m: EntityManager = this.ds.manager): Promise<IssuerCaRow | undefined> {
    return (await this.row(urlId, m)) ?? (await this.topRow(urlId, m));
  }

  /** Inserts a CA row whose key is sealed here (root or intermediate created by this server). */
  async insertGenerated(
    m: EntityManager,
    issuerId: string,
    parentId: string | null,
    created: CreatedCa,
    name: string,
    id = newId(IdPrefix.IssuerCa),
  ): Promise<IssuerCaRow> {
    if (!this.box.enabled) throw keyRequired(issuerId);
    const keyPem = created.keyPem ?? exportPrivateKeyPem(created.signer.privateKey);
    const sealed = await this.box.seal({ private_key_pem: keyPem }, caKeyContext(id));
    const s = created.signer;
    const inserted = rowsOf<IssuerCaRow>(
      await m.query(
        `INSERT INTO issuer_cas (id, issuer_id, parent_id, name, source, subject, serial_number, fingerprint_sha256,
                                 cert_pem, key_algorithm, path_len_constraint, sealed_key, not_before, not_after)
         VALUES ($1, $2, $3, $4, 'generated', $5, $6, $7, $8, $9, $10, $11, $12, $13)
         RETURNING ${CA_COLUMNS}`,
        [
          id,
          issuerId,
          parentId,
          name,
          s.subject,
          s.certificate.serialNumber.toLowerCase(),
          fingerprint(s),
          s.certPem,
          keyAlgorithmName(s),
          s.pathLenConstraint ?? null,
          sealed,
          s.notBefore,
          s.notAfter,
        ],
      ),
    );
    const row = inserted[0];
    if (!row) throw new Error(`CA ${id} was not stored`);
    this.signers.set(row.id, Promise.resolve(s));
    return row;
  }

  private async ensureRoot(issuer: IssuerForCa, cfg: LocalCaConfig): Promise<IssuerCaRow> {
    const existing = await this.generatedRoot(issuer.id);
    if (existing) return existing;
    if (!this.box.enabled) throw keyRequired(issuer.id);
    const row = await this.ds.transaction(async (m) => {
      await m.query(`SELECT pg_advisory_xact_lock(hashtextextended('issuer-ca:' || $1, 0))`, [issuer.id]);
      const raced = await this.generatedRoot(issuer.id, m);
      if (raced) return raced;
      const created = await createRootCa({
        subject: `CN=${escapeDn(cfg.ca_common_name ?? `certctl Local CA ${issuer.name}`)}${
          cfg.organization ? `, O=${escapeDn(cfg.organization)}` : ''
        }`,
        keyAlgorithm: KEY_ALGORITHM_NAMES[cfg.key_algorithm ?? 'ECDSA-P256'],
        validityDays: cfg.ca_validity_days ?? 3650,
      });
      const stored = await this.insertGenerated(m, issuer.id, null, created, 'root');
      await this.audit.recordDomain(m, SYSTEM_ACTOR, 'ca_created', 'issuer', issuer.id, {
        ca_id: stored.id,
        subject: stored.subject,
        not_after: stored.not_after,
      });
      return stored;
    });
    this.logger.log(`issuer ${issuer.id}: generated root CA ${row.id} "${row.subject}"`);
    return row;
  }

  private async generatedRoot(issuerId: string, m: EntityManager = this.ds.manager): Promise<IssuerCaRow | undefined> {
    return rowsOf<IssuerCaRow>(
      await m.query(
        `SELECT ${CA_COLUMNS} FROM issuer_cas WHERE issuer_id = $1 AND parent_id IS NULL AND source = 'generated'`,
        [issuerId],
      ),
    )[0];
  }

  /** Sub-CA mode: loads the files (checked: key matches, CA flags, validity) and registers the CA. */
  private async registerExternal(issuer: IssuerForCa, cfg: LocalCaConfig): Promise<IssuerCaRow> {
    const signer = await this.fileSigner(cfg);
    const fp = fingerprint(signer);
    const found = rowsOf<IssuerCaRow>(
      await this.ds.query(
        `SELECT ${CA_COLUMNS} FROM issuer_cas WHERE issuer_id = $1 AND source = 'external' AND fingerprint_sha256 = $2`,
        [issuer.id, fp],
      ),
    )[0];
    if (found) {
      if (!this.signers.has(found.id)) this.signers.set(found.id, Promise.resolve(signer));
      return found;
    }
    const id = newId(IdPrefix.IssuerCa);
    const inserted = rowsOf<IssuerCaRow>(
      await this.ds.query(
        `INSERT INTO issuer_cas (id, issuer_id, parent_id, name, source, subject, serial_number, fingerprint_sha256,
                                 cert_pem, key_algorithm, path_len_constraint, not_before, not_after)
         SELECT $1, $2, NULL, 'sub-CA (files)', 'external', $3, $4, $5, $6, $7, $8, $9, $10
          WHERE NOT EXISTS (SELECT 1 FROM issuer_cas WHERE issuer_id = $2 AND source = 'external' AND fingerprint_sha256 = $5)
         RETURNING ${CA_COLUMNS}`,
        [
          id,
          issuer.id,
          signer.subject,
          signer.certificate.serialNumber.toLowerCase(),
          fp,
          signer.certPem + signer.chainPem().replace(signer.certPem, ''),
          keyAlgorithmName(signer),
          signer.pathLenConstraint ?? null,
          signer.notBefore,
          signer.notAfter,
        ],
      ),
    );
    const row = inserted[0] ?? (await this.registerExternal(issuer, cfg));
    this.signers.set(row.id, Promise.resolve(signer));
    return row;
  }

  private async fileSigner(cfg: LocalCaConfig): Promise<CaSigner> {
    if (!cfg.ca_cert_path || !cfg.ca_key_path) throw new Error('sub-CA mode needs both files');
    const read = async (path: string, field: string) => {
      try {
        return await readFile(path, 'utf8');
      } catch (e) {
        throw new DomainError(
          ErrorCode.Unavailable,
          `${field} ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
        );
      }
    };
    return loadCaSigner({
      certPem: await read(cfg.ca_cert_path, 'ca_cert_path'),
      keyPem: await read(cfg.ca_key_path, 'ca_key_path'),
      keyPassphrase: cfg.ca_key_passphrase,
    });
  }

  private signer(row: IssuerCaRow, cfg?: LocalCaConfig): Promise<CaSigner> {
    let p = this.signers.get(row.id);
    if (!p) {
      p = this.openSigner(row, cfg);
      this.signers.set(row.id, p);
      p.catch(() => this.signers.delete(row.id));
    }
    return p;
  }

  private async openSigner(row: IssuerCaRow, cfg?: LocalCaConfig): Promise<CaSigner> {
    if (row.source === 'external') {
      const config = cfg ?? localCaConfig.schema.parse((await this.issuer(row.issuer_id)).config);
      const signer = await this.fileSigner(config);
      if (fingerprint(signer) !== row.fingerprint_sha256) {
        throw conflict(`CA ${row.id}: the sub-CA files of issuer ${row.issuer_id} now hold another certificate`);
      }
      return signer;
    }
    const sealed = rowsOf<{ sealed_key: Buffer }>(
      await this.ds.query(`SELECT sealed_key FROM issuer_cas WHERE id = $1`, [row.id]),
    )[0];
    if (!sealed) throw notFound('CA', row.id);
    if (!this.box.enabled) throw keyRequired(row.issuer_id);
    const opened = await this.box.open(sealed.sealed_key, caKeyContext(row.id));
    const chain = await this.chainAbove(row);
    return loadCaSigner({
      certPem: row.cert_pem,
      keyPem: String(opened.private_key_pem),
      chainPem: chain.join(''),
    });
  }

  /** PEMs of the CAs above `row`, nearest first (up to and including the root). */
  private async chainAbove(row: IssuerCaRow): Promise<string[]> {
    const out: string[] = [];
    let parentId = row.parent_id;
    while (parentId) {
      const parent = await this.row(parentId);
      if (!parent) break;
      out.push(parent.cert_pem);
      parentId = parent.parent_id;
    }
    return out;
  }
}

function keyRequired(issuerId: string): DomainError {
  return conflict(
    `issuer ${issuerId}: a Local CA keeps its CA key sealed at rest and needs CERTCTL_CONFIG_ENCRYPTION_KEY (at least 32 bytes)`,
  );
}

function fingerprint(s: CaSigner): string {
  return createHash('sha256').update(s.certDer).digest('hex');
}

function keyAlgorithmName(s: CaSigner): string {
  const k = s.keyInfo;
  return k.algorithm === 'ECDSA' ? `ECDSA-P${k.size}` : k.algorithm === 'RSA' ? `RSA-${k.size}` : k.algorithm;
}

/** RFC 4514 escaping of an attribute value. */
function escapeDn(v: string): string {
  return v
    .replace(/([,+"\\<>;=])/g, '\\$1')
    .replace(/^([ #])/, '\\$1')
    .replace(/ $/, '\\ ');
}
