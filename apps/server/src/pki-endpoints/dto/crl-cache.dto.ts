import { ApiProperty } from '@nestjs/swagger';

/** One cached CRL: a Local CA's (signed here) or an OpenSSL-script issuer's (its CRL script's output). */
export class CrlCacheEntryDto {
  @ApiProperty({
    example: 'iss-local',
    description: 'The id in `/.well-known/pki/crl/{id}`: the issuer id, or an intermediate CA id',
  })
  url_id!: string;

  @ApiProperty({ example: 'iss-local' }) issuer_id!: string;

  @ApiProperty({ type: String, nullable: true, description: 'The issuing CA (null for script-made CRLs)' })
  ca_id!: string | null;

  @ApiProperty({ enum: ['local_ca', 'script'], description: 'Who made the CRL: this server, or the issuer script' })
  source!: 'local_ca' | 'script';

  @ApiProperty({ type: String, nullable: true, example: '42', description: 'The CRL number (decimal)' })
  crl_number!: string | null;

  @ApiProperty({ format: 'date-time' }) this_update!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true }) next_update!: string | null;

  @ApiProperty({ description: 'Size of the DER CRL in bytes' }) size_bytes!: number;

  @ApiProperty({ description: 'The ETag the CRL is served with' }) etag!: string;

  @ApiProperty({
    description:
      'A revocation (or, for scripts, an invalidation) happened since it was made: the next request or the ' +
      'CRL loop makes a new one',
  })
  stale!: boolean;

  @ApiProperty({ format: 'date-time', description: 'When this entry was last written' }) updated_at!: string;

  @ApiProperty({ example: 'http://pki.example.com/.well-known/pki/crl/iss-local', description: 'Where it is served' })
  crl_url!: string;
}

export class CrlCacheListDto {
  @ApiProperty({ type: [CrlCacheEntryDto] }) data!: CrlCacheEntryDto[];
}
