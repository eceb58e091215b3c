import type { DataSourceOptions } from 'typeorm';
import { Foundation1795337600000 } from './1795337600000-Foundation';
import { Inventory1795424000000 } from './1795424000000-Inventory';
import { Revocations1795510400000 } from './1795510400000-Revocations';
import { Issuance1795596800000 } from './1795596800000-Issuance';
import { Approvals1795683200000 } from './1795683200000-Approvals';
import { Discovery1795769600000 } from './1795769600000-Discovery';
import { Enrollment1795856000000 } from './1795856000000-Enrollment';
import { Acme1796028800000 } from './1796028800000-Acme';
import { NotificationDelivery1796115200000 } from './1796115200000-NotificationDelivery';
import { AcmeValidation1796201600000 } from './1796201600000-AcmeValidation';
import { NotificationRouting1796288000000 } from './1796288000000-NotificationRouting';
import { AcmeClientAccounts1796374400000 } from './1796374400000-AcmeClientAccounts';
import { IssuerOrders1796460800000 } from './1796460800000-IssuerOrders';
import { ProfileAcmeAuthMode1796547200000 } from './1796547200000-ProfileAcmeAuthMode';
import { CertificateRenewalInfo1796720000000 } from './1796720000000-CertificateRenewalInfo';
import { ScriptCrlCache1796806400000 } from './1796806400000-ScriptCrlCache';

/** Every migration, in order. Adding one is one import and one line here. */
export const MIGRATIONS = [
  Foundation1795337600000,
  Inventory1795424000000,
  Revocations1795510400000,
  Issuance1795596800000,
  Approvals1795683200000,
  Discovery1795769600000,
  Enrollment1795856000000,
  Acme1796028800000,
  NotificationDelivery1796115200000,
  AcmeValidation1796201600000,
  NotificationRouting1796288000000,
  AcmeClientAccounts1796374400000,
  IssuerOrders1796460800000,
  ProfileAcmeAuthMode1796547200000,
  CertificateRenewalInfo1796720000000,
  ScriptCrlCache1796806400000,
];

/**
 * The one DataSource definition shared by the server (with its entities) and the
 * `npm run migrate` command (without). The schema is owned by the migrations alone.
 */
export function buildDataSourceOptions(
  url: string,
  extra: { maxConnections?: number; entities?: DataSourceOptions['entities']; applicationName?: string } = {},
): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    synchronize: false,
    migrationsRun: false,
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    entities: extra.entities ?? [],
    applicationName: extra.applicationName ?? 'certctl',
    extra: {
      max: extra.maxConnections ?? 10,
      // Fail fast when Postgres is away instead of queueing requests forever.
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
    },
  };
}
