import { ApiProperty, ApiPropertyOptional, type ApiPropertyOptions } from '@nestjs/swagger';
import { NOTIFIER_TYPES } from '@certctl/connectors';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import { ListQueryDto } from '../../http/list-query.dto';
import { PageOf } from '../../http/page.dto';
import type { RenewalPolicyEntity } from '../renewal-policy.entity';
import { IsClientId } from '../../http/dto-fields';
import { IsRoutingMatrix, ROUTABLE_EVENTS, type RoutingMatrix } from '../../notifications/routing-matrix';

/** Swagger shape of a routing matrix: event type -> severity -> channels. */
const ROUTING_MATRIX_SCHEMA: ApiPropertyOptions = {
  type: 'object',
  nullable: true,
  description: `Notification routing: event type (${ROUTABLE_EVENTS.join(', ')}) -> severity (info, warning, critical) -> channels (${NOTIFIER_TYPES.join(', ')}). Pairs not listed use the default routing; null: the default routing only.`,
  additionalProperties: {
    type: 'object',
    additionalProperties: { type: 'array', items: { type: 'string', enum: [...NOTIFIER_TYPES] } },
  },
  example: { expiry_warning: { warning: ['email'], critical: ['pagerduty', 'slack'] } },
};

const NOT_BLANK = /\S/;
export const MAX_DAYS = 365;
export const MAX_THRESHOLDS = 20;
export const DEFAULT_RENEWAL_DAYS_BEFORE = 30;
export const DEFAULT_ALERT_THRESHOLDS_DAYS: readonly number[] = [30, 14, 7, 0];
const DAYS_MESSAGE = `renewal_days_before must be an integer from 0 to ${MAX_DAYS}`;
const THRESHOLD_MESSAGE = `alert_thresholds_days must be integers from 0 to ${MAX_DAYS}`;
/** Optional, but when present never null (the column is NOT NULL). */
const Present = (field: string) => ValidateIf((o: Record<string, unknown>) => o[field] !== undefined);

/** Query strings only: `true`/`false` (any case) become booleans, anything else stays and fails validation. */
const toBoolean = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  return v === 'true' ? true : v === 'false' ? false : value;
};

export class RenewalPolicyDto {
  @ApiProperty({ example: 'rp-standard' }) id!: string;
  @ApiProperty({ example: 'Standard' }) name!: string;
  @ApiProperty({ type: 'integer', example: 30, description: 'Renew this many days before expiry' })
  renewal_days_before!: number;
  @ApiProperty({
    type: [Number],
    example: [30, 14, 7, 0],
    description: 'Alert at these days before expiry (descending)',
  })
  alert_thresholds_days!: number[];
  @ApiProperty() auto_renew!: boolean;
  @ApiProperty({ type: String, nullable: true, example: 'agg-linux-edge' }) agent_group_id!: string | null;
  @ApiProperty(ROUTING_MATRIX_SCHEMA) notification_routing!: RoutingMatrix | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static from(e: RenewalPolicyEntity): RenewalPolicyDto {
    return {
      id: e.id,
      name: e.name,
      renewal_days_before: e.renewalDaysBefore,
      alert_thresholds_days: e.alertThresholdsDays,
      auto_renew: e.autoRenew,
      agent_group_id: e.agentGroupId,
      notification_routing: e.notificationRouting,
      created_at: e.createdAt.toISOString(),
      updated_at: e.updatedAt.toISOString(),
    };
  }
}

export const RENEWAL_POLICY_FIELDS = [
  'id',
  'name',
  'renewal_days_before',
  'alert_thresholds_days',
  'auto_renew',
  'agent_group_id',
  'notification_routing',
  'created_at',
  'updated_at',
] as const;

export class CreateRenewalPolicyDto {
  @ApiPropertyOptional({ example: 'rp-standard', description: 'Client-chosen id; generated (`rp-…`) when absent' })
  @IsOptional()
  @IsClientId()
  @IsString()
  id?: string;

  @ApiProperty({ example: 'Standard', description: 'Unique' })
  @Matches(NOT_BLANK, { message: 'name must not be blank' })
  @MaxLength(200)
  @IsString()
  name!: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: MAX_DAYS, default: DEFAULT_RENEWAL_DAYS_BEFORE })
  @IsOptional()
  @Max(MAX_DAYS, { message: DAYS_MESSAGE })
  @Min(0, { message: DAYS_MESSAGE })
  @IsInt({ message: DAYS_MESSAGE })
  renewal_days_before?: number;

  @ApiPropertyOptional({
    type: [Number],
    default: DEFAULT_ALERT_THRESHOLDS_DAYS,
    description: `Distinct integers 0-${MAX_DAYS}, at most ${MAX_THRESHOLDS}; stored descending. [] disables expiry alerts.`,
  })
  @IsOptional()
  @ArrayUnique({ message: 'alert_thresholds_days must not repeat a value' })
  @Max(MAX_DAYS, { each: true, message: THRESHOLD_MESSAGE })
  @Min(0, { each: true, message: THRESHOLD_MESSAGE })
  @IsInt({ each: true, message: THRESHOLD_MESSAGE })
  @ArrayMaxSize(MAX_THRESHOLDS)
  @IsArray()
  alert_thresholds_days?: number[];

  @ApiPropertyOptional({ default: true, description: 'Create renewal jobs automatically when the window opens' })
  @IsOptional()
  @IsBoolean({ message: 'auto_renew must be true or false' })
  auto_renew?: boolean;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    example: 'agg-linux-edge',
    description: 'An existing agent group',
  })
  @IsOptional()
  @IsClientId()
  @IsString()
  agent_group_id?: string | null;

  @ApiPropertyOptional(ROUTING_MATRIX_SCHEMA)
  @IsOptional()
  @IsRoutingMatrix()
  notification_routing?: RoutingMatrix | null;
}

/** Partial update: absent fields keep their value; `agent_group_id: null` unscopes the policy. */
export class UpdateRenewalPolicyDto {
  @ApiPropertyOptional()
  @Present('name')
  @Matches(NOT_BLANK, { message: 'name must not be blank' })
  @MaxLength(200)
  @IsString()
  name?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: MAX_DAYS })
  @Present('renewal_days_before')
  @Max(MAX_DAYS, { message: DAYS_MESSAGE })
  @Min(0, { message: DAYS_MESSAGE })
  @IsInt({ message: DAYS_MESSAGE })
  renewal_days_before?: number;

  @ApiPropertyOptional({ type: [Number], description: `Distinct integers 0-${MAX_DAYS}; stored descending` })
  @Present('alert_thresholds_days')
  @ArrayUnique({ message: 'alert_thresholds_days must not repeat a value' })
  @Max(MAX_DAYS, { each: true, message: THRESHOLD_MESSAGE })
  @Min(0, { each: true, message: THRESHOLD_MESSAGE })
  @IsInt({ each: true, message: THRESHOLD_MESSAGE })
  @ArrayMaxSize(MAX_THRESHOLDS)
  @IsArray()
  alert_thresholds_days?: number[];

  @ApiPropertyOptional()
  @Present('auto_renew')
  @IsBoolean({ message: 'auto_renew must be true or false' })
  auto_renew?: boolean;

  @ApiPropertyOptional({ type: String, nullable: true, description: 'An existing agent group; null unscopes' })
  @IsOptional()
  @IsClientId()
  @IsString()
  agent_group_id?: string | null;

  @ApiPropertyOptional(ROUTING_MATRIX_SCHEMA)
  @IsOptional()
  @IsRoutingMatrix()
  notification_routing?: RoutingMatrix | null;
}

export class RenewalPolicyListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ description: 'Case-insensitive substring of the name' })
  @IsOptional()
  @MaxLength(200)
  @IsString()
  q?: string;

  @ApiPropertyOptional({ example: 'agg-linux-edge' })
  @IsOptional()
  @MaxLength(128)
  @IsString()
  agent_group_id?: string;

  @ApiPropertyOptional({ type: Boolean })
  @IsOptional()
  @IsBoolean({ message: 'auto_renew must be true or false' })
  @Transform(toBoolean)
  auto_renew?: boolean;
}

export class RenewalPolicyPageDto extends PageOf(RenewalPolicyDto, 'RenewalPolicyPage') {}
