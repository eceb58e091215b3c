import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { IssuedCertificateLookup } from '@certctl/connectors';
import { rowsOf } from '../../database/sql';

/** The leaf an issuer issued with a serial (revokeCert sends the certificate itself). */
@Injectable()
export class PgIssuedCertificateLookup implements IssuedCertificateLookup {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  async certificatePem(issuerId: string, serialHex: string): Promise<string | undefined> {
    const row = rowsOf<{ pem_chain: string }>(
      await this.ds.query(
        `SELECT pem_chain FROM certificate_versions WHERE issuer_id = $1 AND lower(serial_number) = lower($2)
          ORDER BY created_at DESC LIMIT 1`,
        [issuerId, serialHex],
      ),
    )[0];
    const leaf = row && /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(row.pem_chain);
    return leaf ? `${leaf[0]}\n` : undefined;
  }
}
