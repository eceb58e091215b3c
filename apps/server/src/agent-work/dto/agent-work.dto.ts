import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsObject, IsOptional, IsString, Max, MaxLength, Min, MinLength } from 'class-validator';
import { JobStatus, JobType } from '@certctl/domain';

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;

export const WORK_DEFAULT_LIMIT = 50;
export const WORK_MAX_LIMIT = 200;

export class AgentWorkQueryDto {
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: WORK_MAX_LIMIT,
    default: WORK_DEFAULT_LIMIT,
    description: 'At most this many items, oldest first',
  })
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(WORK_MAX_LIMIT)
  limit?: number;
}

/**
 * One actionable job. `AwaitingCSR` items (Issuance/Renewal) carry what the CSR needs;
 * `Pending` Deployment items carry where to deploy. Fields of the other kind are null.
 */
export class AgentWorkItemDto {
  @ApiProperty({ example: 'job-7k2m9q4r8t1v' }) id!: string;
  @ApiProperty({ enum: [JobType.Issuance, JobType.Renewal, JobType.Deployment] }) type!: string;
  @ApiProperty({ enum: [JobStatus.AwaitingCSR, JobStatus.Pending] }) status!: string;
  @ApiProperty({ example: 'mc-api-prod' }) certificate_id!: string;
  @ApiProperty({ format: 'date-time' }) created_at!: string;

  @ApiProperty({ type: String, nullable: true, example: 'api.example.com', description: 'CSR jobs: the CN to request' })
  common_name!: string | null;
  @ApiProperty({
    type: [String],
    nullable: true,
    example: ['api.example.com', 'IP:10.0.0.5'],
    description: 'CSR jobs: the SANs (the certificate gets exactly its own names whatever the CSR says)',
  })
  sans!: string[] | null;
  @ApiProperty({
    type: String,
    nullable: true,
    example: 'ECDSA-P256',
    description: "CSR jobs: the key to generate, the first algorithm the certificate's profile allows",
  })
  key_algorithm!: string | null;

  @ApiProperty({ type: String, nullable: true, example: 't-web-01-nginx', description: 'Deployment jobs' })
  target_id!: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'NGINX', description: 'Deployment jobs: the target type' })
  target_type!: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'web-01 nginx', description: 'Deployment jobs' })
  target_name!: string | null;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    description:
      "Deployment jobs: the target's non-secret settings. Secret settings (passwords, keys) never leave the server; " +
      'their names are in secret_fields and the agent takes their values from its own configuration.',
  })
  target_config!: Record<string, unknown> | null;
  @ApiProperty({ type: [String], nullable: true, example: [], description: 'Deployment jobs: secrets not sent' })
  secret_fields!: string[] | null;
  @ApiProperty({
    type: String,
    nullable: true,
    example: 'cv-3n8q2w7x5z1c',
    description: 'Deployment jobs: the version a claim now would deploy (the newest), pinned when claimed',
  })
  version_id!: string | null;
}

export class AgentWorkDto {
  @ApiProperty({ type: [AgentWorkItemDto] }) data!: AgentWorkItemDto[];
  @ApiProperty({ description: 'All actionable jobs of the agent (data holds at most `limit`)' }) total!: number;
}

export class SubmitCsrDto {
  @ApiProperty({ example: 'mc-api-prod' })
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  certificate_id!: string;

  @ApiProperty({ description: 'PKCS#10 CSR, PEM (the private key stays on the agent)' })
  @IsString()
  @MinLength(1)
  @MaxLength(100_000)
  csr_pem!: string;

  @ApiPropertyOptional({ description: "The AwaitingCSR job; default: the certificate's one routed to this agent" })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  job_id?: string;
}

/**
 * The answer to a CSR: the issued certificate (status Completed), or, for an asynchronous CA
 * (DigiCert, Sectigo, ...), the order it accepted (status AwaitingIssuer, no certificate
 * fields yet): the server polls the CA and creates the deployment jobs once it issues.
 */
export class IssuedCertificateDto {
  @ApiProperty({ enum: [JobStatus.Completed, JobStatus.AwaitingIssuer] }) status!: string;
  @ApiProperty() job_id!: string;
  @ApiProperty() certificate_id!: string;
  @ApiPropertyOptional({ description: "The CA's order id while AwaitingIssuer" }) order_id?: string;
  @ApiPropertyOptional() version_id?: string;
  @ApiPropertyOptional({ description: 'Lower-case hex' }) serial_number?: string;
  @ApiPropertyOptional() fingerprint_sha256?: string;
  @ApiPropertyOptional() certificate_pem?: string;
  @ApiPropertyOptional({ description: 'Intermediates up to (not including) the root' }) chain_pem?: string;
  @ApiPropertyOptional({ format: 'date-time' }) not_before?: string;
  @ApiPropertyOptional({ format: 'date-time' }) not_after?: string;
  @ApiPropertyOptional({ type: [String], description: 'Deployment jobs created for the mapped targets' })
  deployment_job_ids?: string[];
}

export const REPORTABLE_STATUSES = [JobStatus.Running, JobStatus.Completed, JobStatus.Failed] as const;
export type ReportableStatus = (typeof REPORTABLE_STATUSES)[number];

export class ReportJobStatusDto {
  @ApiProperty({
    enum: REPORTABLE_STATUSES,
    description: 'Running claims a Pending job (once); Completed or Failed ends a Running one',
  })
  @IsIn(REPORTABLE_STATUSES, { message: `status must be one of ${REPORTABLE_STATUSES.join(', ')}` })
  status!: ReportableStatus;

  @ApiPropertyOptional({ description: 'Required with Failed: what went wrong', example: 'nginx -t failed: ...' })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  error?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'What the agent wants on record (files written, reload output); at most 16 KiB of JSON, audited',
  })
  @IsOptional()
  @IsObject()
  details?: Record<string, unknown>;
}

export class AgentJobDto {
  @ApiProperty() id!: string;
  @ApiProperty({ enum: Object.values(JobType) }) type!: string;
  @ApiProperty({ enum: Object.values(JobStatus) }) status!: string;
  @ApiProperty() certificate_id!: string;
  @ApiProperty({ type: String, nullable: true }) target_id!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'The version this deployment deploys (set on claim)' })
  version_id!: string | null;
  @ApiProperty() attempts!: number;
  @ApiProperty() max_attempts!: number;
  @ApiProperty({ type: String, nullable: true }) last_error!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) started_at!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) completed_at!: string | null;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'Completed: a newer version was issued while this one was being deployed, so a new Deployment job for the ' +
      'same target was created (its id)',
  })
  follow_up_job_id!: string | null;
}

export class AgentCertificateQueryDto {
  @ApiPropertyOptional({ description: 'A version of the certificate (default: the newest), e.g. a claimed job’s' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  version_id?: string;
}

/** Public material only: the server never hands out a private key here. */
export class AgentCertificateDto {
  @ApiProperty() certificate_id!: string;
  @ApiProperty() version_id!: string;
  @ApiProperty({ description: 'Lower-case hex' }) serial_number!: string;
  @ApiProperty() fingerprint_sha256!: string;
  @ApiProperty({ description: 'The leaf, PEM' }) certificate_pem!: string;
  @ApiProperty({ description: 'The intermediates, PEM (empty when the issuer signs from its root)' })
  chain_pem!: string;
  @ApiProperty({ format: 'date-time' }) not_before!: string;
  @ApiProperty({ format: 'date-time' }) not_after!: string;
}
