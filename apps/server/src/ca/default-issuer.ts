import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { IssuerType } from '@certctl/domain';
import { checkConfig, issuerConfigSpec, type ConfigObject } from '@certctl/connectors';
import { loadCaSigner } from '@certctl/pki';
import { AuditRepository, SYSTEM_ACTOR } from '../audit/audit.repository';
import { AppConfig, ConfigError } from '../config/config.schema';
import { rowsOf } from '../database/sql';
import { CaStore } from './ca-store';

/** The issuer CERTCTL_CA_CERT_PATH / CERTCTL_CA_KEY_PATH configure. */
export const DEFAULT_LOCAL_CA_ID = 'iss-local';
export const DEFAULT_LOCAL_CA_NAME = 'Local CA';

const ENV = 'CERTCTL_CA_CERT_PATH/CERTCTL_CA_KEY_PATH';
/** Self-signed-mode fields the Local CA config refuses next to ca_cert_path. */
const SELF_SIGNED_ONLY = ['ca_common_name', 'ca_validity_days', 'key_algorithm'];

export type DefaultIssuerOutcome = 'created' | 'updated' | 'unchanged';

interface IssuerRow {
  id: string;
  name: string;
  type: string;
  config: ConfigObject;
  secret_fields: string[];
}

/**
 * Sub-CA mode from the environment: with CERTCTL_CA_CERT_PATH and CERTCTL_CA_KEY_PATH set,
 * boot makes sure the Local CA issuer `iss-local` ("Local CA") signs with those files.
 * It is created when missing; when it exists with other paths, the paths are updated (the
 * self-signed-only fields and a stored key passphrase, which belonged to the old key, are
 * dropped) and audited; other fields, its name and whether it is enabled are left alone, and
 * no other issuer is ever touched. The files are checked (readable, key matches, a CA
 * certificate, valid now) before anything is written, so bad files stop this replica's boot
 * without breaking replicas still running with the stored paths. Then the CA is registered
 * (issuer_cas row), so CRL and OCSP answer before the first issuance. Replicas booting at
 * once serialize on an advisory lock; each step is idempotent.
 */
@Injectable()
export class DefaultIssuerBoot implements OnApplicationBootstrap {
  private readonly logger = new Logger(DefaultIssuerBoot.name);

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly config: AppConfig,
    private readonly audit: AuditRepository,
    private readonly store: CaStore,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const sub = this.config.issuance.subCa;
    if (sub) await this.ensure(sub);
  }

  async ensure(sub: { certPath: string; keyPath: string }): Promise<DefaultIssuerOutcome> {
    const certPath = resolve(sub.certPath);
    const keyPath = resolve(sub.keyPath);
    const outcome = await this.ds.transaction(async (m) => {
      await m.query(`SELECT pg_advisory_xact_lock(hashtextextended('default-issuer:' || $1, 0))`, [
        DEFAULT_LOCAL_CA_ID,
      ]);
      const existing = rowsOf<IssuerRow>(
        await m.query(`SELECT id, name, type, config, secret_fields FROM issuers WHERE id = $1 FOR UPDATE`, [
          DEFAULT_LOCAL_CA_ID,
        ]),
      )[0];
      if (existing && existing.type !== IssuerType.LocalCA) {
        throw new ConfigError([
          `${ENV}: issuer ${DEFAULT_LOCAL_CA_ID} exists with type ${existing.type}, not LocalCA; rename or delete it, or unset ${ENV}`,
        ]);
      }
      if (existing?.config.ca_cert_path === certPath && existing.config.ca_key_path === keyPath) return 'unchanged';
      await this.checkFiles(certPath, keyPath);

      const config: ConfigObject = { ...(existing?.config ?? {}), ca_cert_path: certPath, ca_key_path: keyPath };
      for (const f of SELF_SIGNED_ONLY) delete config[f];
      const checked = checkConfig(issuerConfigSpec(IssuerType.LocalCA), config, 'config');
      if (!checked.ok) throw new ConfigError([`${ENV}: ${checked.issues.join('; ')}`]);

      if (!existing) {
        const inserted = rowsOf<{ id: string }>(
          await m.query(
            `INSERT INTO issuers (id, name, type, config, enabled) VALUES ($1, $2, $3, $4::jsonb, true)
             ON CONFLICT DO NOTHING RETURNING id`,
            [DEFAULT_LOCAL_CA_ID, DEFAULT_LOCAL_CA_NAME, IssuerType.LocalCA, JSON.stringify(checked.config)],
          ),
        );
        if (inserted.length === 0) {
          const holder = rowsOf<{ id: string }>(
            await m.query(`SELECT id FROM issuers WHERE name = $1`, [DEFAULT_LOCAL_CA_NAME]),
          )[0];
          throw new ConfigError([
            `${ENV}: cannot create issuer ${DEFAULT_LOCAL_CA_ID}: the name "${DEFAULT_LOCAL_CA_NAME}" is taken by issuer ${holder?.id ?? '?'}`,
          ]);
        }
        await this.audit.recordDomain(m, SYSTEM_ACTOR, 'issuer_created', 'issuer', DEFAULT_LOCAL_CA_ID, {
          name: DEFAULT_LOCAL_CA_NAME,
          type: IssuerType.LocalCA,
          enabled: true,
          config_fields: Object.keys(checked.config).sort(),
          secret_fields: [],
          source: ENV,
          ca_cert_path: certPath,
          ca_key_path: keyPath,
        });
        return 'created';
      }
      const changed = Object.keys({ ...existing.config, ...checked.config })
        .filter((k) => JSON.stringify(existing.config[k]) !== JSON.stringify(checked.config[k]))
        .map((k) => `config.${k}`);
      if (existing.secret_fields.length) changed.push(...existing.secret_fields.map((k) => `config.${k}`));
      await m.query(
        `UPDATE issuers SET config = $2::jsonb, secret_config = NULL, secret_fields = '{}', updated_at = now()
          WHERE id = $1`,
        [DEFAULT_LOCAL_CA_ID, JSON.stringify(checked.config)],
      );
      await this.audit.recordDomain(m, SYSTEM_ACTOR, 'issuer_updated', 'issuer', DEFAULT_LOCAL_CA_ID, {
        name: existing.name,
        type: existing.type,
        changed: changed.sort(),
        source: ENV,
        previous: {
          ca_cert_path: existing.config.ca_cert_path ?? null,
          ca_key_path: existing.config.ca_key_path ?? null,
        },
        ca_cert_path: certPath,
        ca_key_path: keyPath,
      });
      return 'updated';
    });

    // Register the CA (and check the stored configuration opens it) under the same lock,
    // now that the issuer row is committed: two replicas register it once.
    await this.ds.transaction(async (m) => {
      await m.query(`SELECT pg_advisory_xact_lock(hashtextextended('default-issuer:' || $1, 0))`, [
        DEFAULT_LOCAL_CA_ID,
      ]);
      try {
        const top = await this.store.top(await this.store.issuer(DEFAULT_LOCAL_CA_ID));
        if (outcome !== 'unchanged') {
          this.logger.log(
            `issuer ${DEFAULT_LOCAL_CA_ID} ${outcome}: sub-CA "${top.row.subject}" (${top.row.id}) from ${certPath}`,
          );
        }
      } catch (e) {
        throw new ConfigError([
          `${ENV}: issuer ${DEFAULT_LOCAL_CA_ID} cannot use its CA files: ${e instanceof Error ? e.message : String(e)}`,
        ]);
      }
    });
    return outcome;
  }

  /** Readable, key matching the certificate, a CA certificate valid now (loadCaSigner's checks). */
  private async checkFiles(certPath: string, keyPath: string): Promise<void> {
    const read = async (path: string, name: string) => {
      try {
        return await readFile(path, 'utf8');
      } catch (e) {
        throw new ConfigError([`${name}: ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`]);
      }
    };
    const certPem = await read(certPath, 'CERTCTL_CA_CERT_PATH');
    const keyPem = await read(keyPath, 'CERTCTL_CA_KEY_PATH');
    try {
      await loadCaSigner({ certPem, keyPem });
    } catch (e) {
      throw new ConfigError([`${ENV}: ${e instanceof Error ? e.message : String(e)}`]);
    }
  }
}
