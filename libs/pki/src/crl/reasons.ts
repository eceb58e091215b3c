import { invalid, RevocationReason } from '@certctl/domain';

/**
 * Every RFC 5280 CRLReason (5.3.1). The domain's RevocationReason names the ones an operator
 * can pick; removeFromCRL (delta CRLs only) and aACompromise (attribute authorities) complete
 * the set. 'caCompromise' is the domain's spelling of cACompromise.
 */
export type CrlReason = RevocationReason | 'removeFromCRL' | 'aACompromise';

export const CRL_REASON_CODES: Readonly<Record<CrlReason, number>> = {
  ...RevocationReason,
  removeFromCRL: 8,
  aACompromise: 10,
};

const byLowerName = new Map<string, number>(Object.entries(CRL_REASON_CODES).map(([k, v]) => [k.toLowerCase(), v]));

/**
 * The CRLReason code to encode for `reason` (matched case-insensitively, so RFC spellings such
 * as cACompromise work), or undefined for unspecified: RFC 5280 5.3.1 says the reasonCode
 * SHOULD be absent rather than unspecified (0). removeFromCRL is refused: it only has a
 * meaning in delta CRLs, and a certificate taken off hold is simply not revoked (OCSP: good).
 */
export function reasonCodeFor(reason: unknown, field: string): number | undefined {
  const code = typeof reason === 'string' ? byLowerName.get(reason.toLowerCase()) : undefined;
  if (code === undefined) {
    throw invalid(`${field} must be one of ${Object.keys(CRL_REASON_CODES).join(', ')}`, { field });
  }
  if (code === CRL_REASON_CODES.removeFromCRL) {
    throw invalid(`${field}: removeFromCRL is only valid in a delta CRL (RFC 5280 5.3.1); omit the entry instead`, {
      field,
    });
  }
  return code === CRL_REASON_CODES.unspecified ? undefined : code;
}
