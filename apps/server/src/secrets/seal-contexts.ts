// The seal contexts (SecretBox additional data) of every sealed column, in one leaf module: the
// writers, the readers and the boot check all import it, and it imports none of them, so no
// import cycle can leave one of these undefined while a module initialises.

/** Seal context of an OCSP responder's key (`ocsp_responders.sealed_key`). */
export function ocspResponderKeyContext(responderId: string): string {
  return `ocsp_responders:${responderId}`;
}

/** Seal context of a SCEP RA key (`scep_ra_keys.sealed_key`); the empty label is the default RA. */
export function sealContextOf(label: string): string {
  return `scep_ra_keys:${label || 'default'}`;
}

/** Seal context of an ACME client account key (`acme_client_accounts.sealed_key`). */
export function acmeAccountContext(issuerId: string, directoryUrl: string): string {
  return `acme_client_accounts:${issuerId}:${directoryUrl}`;
}

/** Seal context of an ACME External Account Binding HMAC key (`acme_eab_keys.sealed_key`). */
export const acmeEabKeyContext = (kid: string): string => `acme_eab_keys:${kid}`;

/**
 * Seal context of a server-generated private key (`certificate_versions.sealed_private_key`,
 * CERTCTL_KEYGEN_MODE=server only). The sealed object is `{ private_key_pem: string }`.
 */
export function versionKeyContext(versionId: string): string {
  return `certificate_versions:${versionId}`;
}

/** Seal context of a CA key (`issuer_cas.sealed_key`); the sealed object is `{ private_key_pem: string }`. */
export function caKeyContext(caId: string): string {
  return `issuer_cas:${caId}`;
}

/** Tables whose rows carry a sealed `secret_config`; the row is `<table>:<id>` context. */
export const SEALED_TABLES = ['issuers', 'deployment_targets'] as const;

export function sealContext(table: (typeof SEALED_TABLES)[number], id: string): string {
  return `${table}:${id}`;
}

/** A column holding SecretBox blobs, and how a row's seal context is made from its columns. */
export interface SealedColumn {
  table: string;
  column: string;
  /** The columns the context is made of (selected beside the blob). */
  keys: readonly string[];
  context: (row: Record<string, string>) => string;
}

/** Every column of sealed data, with the context its writer seals each row's blob under. */
export const SEALED_COLUMNS: readonly SealedColumn[] = [
  { table: 'issuers', column: 'secret_config', keys: ['id'], context: (r) => sealContext('issuers', r.id) },
  {
    table: 'deployment_targets',
    column: 'secret_config',
    keys: ['id'],
    context: (r) => sealContext('deployment_targets', r.id),
  },
  { table: 'issuer_cas', column: 'sealed_key', keys: ['id'], context: (r) => caKeyContext(r.id) },
  { table: 'ocsp_responders', column: 'sealed_key', keys: ['id'], context: (r) => ocspResponderKeyContext(r.id) },
  { table: 'scep_ra_keys', column: 'sealed_key', keys: ['label'], context: (r) => sealContextOf(r.label) },
  { table: 'acme_eab_keys', column: 'sealed_key', keys: ['kid'], context: (r) => acmeEabKeyContext(r.kid) },
  {
    table: 'acme_client_accounts',
    column: 'sealed_key',
    keys: ['issuer_id', 'directory_url'],
    context: (r) => acmeAccountContext(r.issuer_id, r.directory_url),
  },
  {
    table: 'certificate_versions',
    column: 'sealed_private_key',
    keys: ['id'],
    context: (r) => versionKeyContext(r.id),
  },
  // An asynchronous CA's order keeps the server-generated key sealed to its future version.
  {
    table: 'issuer_orders',
    column: 'sealed_private_key',
    keys: ['version_id'],
    context: (r) => versionKeyContext(r.version_id),
  },
];
