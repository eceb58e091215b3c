import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import { NotificationDto, NotificationListQueryDto, NotificationPageDto } from './dto/notification.dto';
import { NotificationsService } from './notifications.service';

@ApiTags('notifications')
@ApiBadRequestResponse({ type: ErrorResponseDto })
@Controller('api/v1/notifications')
export class NotificationsController {
  constructor(private readonly notifications: NotificationsService) {}

  @Get()
  @RequirePermission('notification.read')
  @ApiOperation({
    operationId: 'listNotifications',
    summary: 'List notifications, newest first (filters: status, type, channel, certificate_id, unread)',
  })
  @ApiOkResponse({ type: NotificationPageDto })
  list(@Query() q: NotificationListQueryDto): Promise<NotificationPageDto> {
    return this.notifications.list(q) as Promise<NotificationPageDto>;
  }

  @Get(':id')
  @RequirePermission('notification.read')
  @ApiOperation({ operationId: 'getNotification', summary: 'Get a notification' })
  @ApiOkResponse({ type: NotificationDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<NotificationDto> {
    return this.notifications.get(id);
  }

  @Post(':id/read')
  @HttpCode(200)
  @RequirePermission('notification.edit')
  @ApiOperation({ operationId: 'markNotificationRead', summary: 'Mark a notification read (idempotent)' })
  @ApiOkResponse({ type: NotificationDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  markRead(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<NotificationDto> {
    return this.notifications.markRead(p, id);
  }

  @Post(':id/requeue')
  @HttpCode(200)
  @RequirePermission('notification.edit')
  @ApiOperation({
    operationId: 'requeueNotification',
    summary: 'Requeue a failed or dead notification (pending again, retry_count 0)',
  })
  @ApiOkResponse({ type: NotificationDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The notification is pending or sent' })
  requeue(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<NotificationDto> {
    return this.notifications.requeue(p, id);
  }
}
