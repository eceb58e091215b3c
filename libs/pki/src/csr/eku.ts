import { EKU_OIDS, ekuOidOf, invalid, normalizeEku } from '@certctl/domain';

/** OID of an EKU given by name (case-insensitive) or as a dotted OID; Validation error naming `field` otherwise. */
export function ekuOid(nameOrOid: string, field = 'ekus'): string {
  const oid = ekuOidOf(nameOrOid);
  if (oid !== undefined) return oid;
  throw invalid(
    `${field}: unknown extended key usage "${nameOrOid}" (use ${Object.keys(EKU_OIDS).join(', ')} or a dotted OID)`,
  );
}

/** The profile name of an EKU OID ("serverAuth"), or the OID itself when it has none. */
export function ekuName(oid: string): string {
  return normalizeEku(oid) ?? oid;
}
