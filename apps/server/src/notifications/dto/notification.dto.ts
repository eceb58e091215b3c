import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { NotificationStatus, parseEnum } from '@certctl/domain';
import { ListQueryDto } from '../../http/list-query.dto';
import { PageOf } from '../../http/page.dto';
import type { NotificationEventEntity } from '../notification-event.entity';

const STATUSES = Object.values(NotificationStatus);
const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export class NotificationDto {
  @ApiProperty({ example: 'notif-7k2m9q4r8t1v' }) id!: string;
  @ApiProperty({ example: 'ExpirationWarning' }) type!: string;
  @ApiProperty({ type: String, nullable: true, example: 'mc-api-prod' }) certificate_id!: string | null;
  @ApiProperty({ example: 'Email' }) channel!: string;
  @ApiProperty({ example: 'alice@example.com' }) recipient!: string;
  @ApiProperty({ example: 'Certificate api.example.com expires in 14 days' }) message!: string;
  @ApiProperty({ example: 'warning' }) severity!: string;
  @ApiProperty({ enum: STATUSES }) status!: NotificationStatus;
  @ApiProperty({ description: 'Failed delivery attempts so far' }) retry_count!: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) next_retry_at!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'The most recent delivery error' })
  last_error!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When it was marked read' })
  read_at!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) sent_at!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static from(e: NotificationEventEntity): NotificationDto {
    return {
      id: e.id,
      type: e.type,
      certificate_id: e.certificateId,
      channel: e.channel,
      recipient: e.recipient,
      message: e.message,
      severity: e.severity,
      status: e.status,
      retry_count: e.retryCount,
      next_retry_at: iso(e.nextRetryAt),
      last_error: e.lastError,
      read_at: iso(e.readAt),
      sent_at: iso(e.sentAt),
      created_at: e.createdAt.toISOString(),
      updated_at: e.updatedAt.toISOString(),
    };
  }
}

export const NOTIFICATION_FIELDS = [
  'id',
  'type',
  'certificate_id',
  'channel',
  'recipient',
  'message',
  'severity',
  'status',
  'retry_count',
  'next_retry_at',
  'last_error',
  'read_at',
  'sent_at',
  'created_at',
  'updated_at',
] as const;

/** Query strings only: `true`/`false` (any case) become booleans, anything else stays and fails validation. */
export const toBoolean = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  return v === 'true' ? true : v === 'false' ? false : value;
};

/** Case-insensitive status (`Dead` -> `dead`); non-members stay as given and fail validation. */
export const toStatus = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? (parseEnum(NotificationStatus, value) ?? value) : value;

export class NotificationListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ enum: STATUSES, description: 'Delivery status (case-insensitive)' })
  @IsOptional()
  @Transform(toStatus)
  @IsIn(STATUSES, { message: `status must be one of ${STATUSES.join(', ')}` })
  status?: NotificationStatus;

  @ApiPropertyOptional({ example: 'ExpirationWarning', description: 'Notification type (case-insensitive)' })
  @IsOptional()
  @MaxLength(100)
  @IsString()
  type?: string;

  @ApiPropertyOptional({ example: 'Email', description: 'Delivery channel (case-insensitive)' })
  @IsOptional()
  @MaxLength(100)
  @IsString()
  channel?: string;

  @ApiPropertyOptional({ example: 'mc-api-prod' })
  @IsOptional()
  @MaxLength(128)
  @IsString()
  certificate_id?: string;

  @ApiPropertyOptional({ type: Boolean, description: '`true`: only unread; `false`: only read' })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'unread must be true or false' })
  unread?: boolean;
}

export class NotificationPageDto extends PageOf(NotificationDto, 'NotificationPage') {}
