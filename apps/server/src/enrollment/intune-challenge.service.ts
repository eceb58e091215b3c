import { Injectable } from '@nestjs/common';
import type { ParsedCsr } from '@certctl/pki';
import type { IntuneConfig } from './enrollment-config';

/** An accepted Intune challenge. */
export interface IntuneVerdict {
  /** The device the token was issued for (rate limits and audit). */
  deviceId: string;
  /** The token's `jti` (single use). */
  tokenId: string;
}

/** A refused Intune challenge; `reason` is audited and never sent to the client in detail. */
export class IntuneRejection extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'IntuneRejection';
  }
}

/**
 * Microsoft Intune dynamic SCEP challenges (NDES replacement): see docs/operator/intune.md.
 */
@Injectable()
export class IntuneChallengeService {
  /** Verifies `token` for a label's Intune settings and the CSR it came with; throws IntuneRejection. */
  async verify(label: string, cfg: IntuneConfig, token: string, csr: ParsedCsr): Promise<IntuneVerdict> {
    void label;
    void cfg;
    void token;
    void csr;
    throw new IntuneRejection('Intune challenge verification is not built yet');
  }
}
