import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { KEY_ALGORITHMS } from '@certctl/pki';
import { IsResourceName } from '../../http/dto-fields';
import { PageOf } from '../../http/page.dto';

/** DNS name constraints (RFC 5280 4.2.1.10) put in the new CA, critical. */
export class NameConstraintsDto {
  @ApiPropertyOptional({
    type: [String],
    example: ['example.com', '.internal.example.com'],
    description:
      '`example.com` permits that name and every name below it; `.example.com` only names below it. ' +
      'Each must lie inside the permitted subtrees of the CAs above (when they have some).',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(253, { each: true })
  permitted_dns?: string[];

  @ApiPropertyOptional({ type: [String], example: ['legacy.example.com'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(253, { each: true })
  excluded_dns?: string[];
}

export class CreateIntermediateDto {
  @ApiProperty({ example: 'Issuing CA 2026', description: 'A label for operators' })
  @IsResourceName()
  name!: string;

  @ApiPropertyOptional({
    example: 'Example Issuing CA 2026',
    description: 'CN of the new CA (with `organization`); give this or `subject`',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  common_name?: string;

  @ApiPropertyOptional({ example: 'Example Corp', description: 'O of the new CA (with `common_name`)' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  organization?: string;

  @ApiPropertyOptional({
    example: 'CN=Example Issuing CA 2026, O=Example Corp, C=DE',
    description: 'Full subject DN (RFC 4514 text; needs a CN); instead of `common_name`/`organization`',
  })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  subject?: string;

  @ApiPropertyOptional({ enum: KEY_ALGORITHMS, default: 'ECDSA-P256' })
  @IsOptional()
  @IsIn(KEY_ALGORITHMS, { message: `key_algorithm must be one of: ${KEY_ALGORITHMS.join(', ')}` })
  key_algorithm?: (typeof KEY_ALGORITHMS)[number];

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: 36500,
    default: 1825,
    description: "Lifetime in days; the certificate never outlives its parent's (capped)",
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(36500)
  validity_days?: number;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 0,
    maximum: 8,
    description:
      "basicConstraints pathLenConstraint: how many CAs may follow below this one. Default: the parent's minus " +
      "one, or 0 (an issuing CA) under an unconstrained parent. Must stay below the parent's; a parent with 0 " +
      'cannot sign CAs.',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(8)
  path_len_constraint?: number;

  @ApiPropertyOptional({ type: NameConstraintsDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => NameConstraintsDto)
  name_constraints?: NameConstraintsDto;

  @ApiPropertyOptional({
    example: 'ica-7x2k9p4m1q3r5s8t',
    description: "The signing CA: any active CA of this issuer (default: the issuer's top CA)",
  })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  parent_id?: string;
}

export class RetireIntermediateDto {
  @ApiPropertyOptional({ example: 'replaced by Issuing CA 2027', description: 'Recorded in the audit trail' })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  reason?: string;
}

export class NameConstraintsViewDto {
  @ApiProperty({ type: [String] }) permitted_dns!: string[];
  @ApiProperty({ type: [String] }) excluded_dns!: string[];
}

export class IntermediateCaDto {
  @ApiProperty({ example: 'ica-7x2k9p4m1q3r5s8t' }) id!: string;
  @ApiProperty({ example: 'iss-local' }) issuer_id!: string;
  @ApiProperty({ type: String, nullable: true, description: 'The signing CA; null for the top CA' })
  parent_id!: string | null;
  @ApiProperty({ example: 'Issuing CA 2026' }) name!: string;
  @ApiProperty({ description: "The issuer's top CA (its root, or the sub-CA loaded from files)" })
  top!: boolean;
  @ApiProperty({
    enum: ['generated', 'external'],
    description: 'generated: created here, key sealed; external: the sub-CA files',
  })
  source!: string;
  @ApiProperty({
    enum: ['active', 'draining', 'retired'],
    description: 'draining: no longer issues, still has live certificates; all keep signing CRLs and OCSP',
  })
  state!: string;
  @ApiProperty({ description: "Whether this CA signs the issuer's new certificates now" }) issuing!: boolean;
  @ApiProperty({ example: 'CN=Example Issuing CA 2026, O=Example Corp' }) subject!: string;
  @ApiProperty({ description: 'Lower-case hex' }) serial_number!: string;
  @ApiProperty({ description: 'Lower-case hex SHA-256 of the DER certificate' }) fingerprint_sha256!: string;
  @ApiProperty({ example: 'ECDSA-P256' }) key_algorithm!: string;
  @ApiProperty({ type: 'integer', nullable: true, description: 'null: no limit' })
  path_len_constraint!: number | null;
  @ApiProperty({ type: NameConstraintsViewDto, nullable: true, description: 'DNS name constraints of this CA' })
  name_constraints!: NameConstraintsViewDto | null;
  @ApiProperty({ format: 'date-time' }) not_before!: string;
  @ApiProperty({ format: 'date-time' }) not_after!: string;
  @ApiProperty({ description: 'PEM of this CA certificate' }) cert_pem!: string;
  @ApiProperty({ description: 'PEM of the CAs above, nearest first, ending with the root (empty for the top)' })
  chain_pem!: string;
  @ApiProperty({
    example: 'https://certctl.example.com/.well-known/pki/ca/ica-7x2k9p4m1q3r5s8t.crt',
    description: 'Where relying parties download this certificate (DER); what its certificates name as CA issuers',
  })
  ca_issuers_url!: string;
  @ApiProperty({ description: 'Certificates it signed that are neither expired nor revoked' })
  certificates_active!: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) retired_at!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
}

export class IntermediateCaListDto extends PageOf(IntermediateCaDto, 'IntermediateCaList') {}

export class RetireIntermediateResultDto extends IntermediateCaDto {
  @ApiProperty({ description: 'Live certificates still signed by this CA (0 once retired)' })
  certificates_remaining!: number;
}
