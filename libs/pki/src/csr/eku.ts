import { invalid } from '@certctl/domain';

/** Extended key usages by the names profiles use (`allowed_ekus`), RFC 5280 4.2.1.12. */
export const EKU_OIDS = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  OCSPSigning: '1.3.6.1.5.5.7.3.9',
} as const;
export type EkuName = keyof typeof EKU_OIDS;

const BY_LOWER = new Map(Object.entries(EKU_OIDS).map(([k, v]) => [k.toLowerCase(), v]));
const NAME_BY_OID = new Map(Object.entries(EKU_OIDS).map(([k, v]) => [v, k]));
const DOTTED_OID = /^[0-2](\.(0|[1-9]\d{0,9})){1,30}$/;

/** OID of an EKU given by name (case-insensitive) or as a dotted OID; Validation error naming `field` otherwise. */
export function ekuOid(nameOrOid: string, field = 'ekus'): string {
  const v = nameOrOid.trim();
  const known = BY_LOWER.get(v.toLowerCase());
  if (known) return known;
  if (DOTTED_OID.test(v)) return v;
  throw invalid(
    `${field}: unknown extended key usage "${nameOrOid}" (use ${Object.keys(EKU_OIDS).join(', ')} or a dotted OID)`,
  );
}

/** The profile name of an EKU OID ("serverAuth"), or the OID itself when it has none. */
export function ekuName(oid: string): string {
  return NAME_BY_OID.get(oid as (typeof EKU_OIDS)[EkuName]) ?? oid;
}
