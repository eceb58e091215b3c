import { AsnArray, AsnPropTypes, AsnType, AsnTypeTypes } from '@peculiar/asn1-schema';

/** TLS Feature extension (RFC 7633): `Features ::= SEQUENCE OF INTEGER`. */
export const id_pe_tlsfeature = '1.3.6.1.5.5.7.1.24';
/** status_request (TLS extension 5): "OCSP must-staple". */
export const TLS_FEATURE_STATUS_REQUEST = 5;

@AsnType({ type: AsnTypeTypes.Sequence, itemType: AsnPropTypes.Integer })
export class TlsFeatures extends AsnArray<number> {
  constructor(items?: number[]) {
    super(items);
    Object.setPrototypeOf(this, TlsFeatures.prototype);
  }
}
