import { Injectable } from '@nestjs/common';
import { notFound, type ListResult } from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import type { Principal } from '../http/request-context';
import { NotificationDto, type NotificationListQueryDto } from './dto/notification.dto';
import { NotificationsRepository } from './notifications.repository';

/** The read side of notifications: the inbox and mark-as-read. Creation and delivery live elsewhere. */
@Injectable()
export class NotificationsService {
  constructor(
    private readonly repo: NotificationsRepository,
    private readonly audit: AuditRepository,
  ) {}

  list(q: NotificationListQueryDto): Promise<ListResult<Partial<NotificationDto>>> {
    return this.repo.list(q);
  }

  async get(id: string): Promise<NotificationDto> {
    const n = await this.repo.findById(id);
    if (!n) throw notFound('notification', id);
    return NotificationDto.from(n);
  }

  /** Idempotent: the first call stamps read_at (and is audited); later calls return the row unchanged. */
  async markRead(actor: Principal, id: string): Promise<NotificationDto> {
    return this.repo.transaction(async (m) => {
      const before = await this.repo.findForUpdate(m, id);
      if (!before) throw notFound('notification', id);
      if (before.readAt) return NotificationDto.from(before);
      const n = await this.repo.markRead(m, id, new Date());
      await this.audit.recordDomain(m, actor, 'notification_read', 'notification', id, {
        type: n.type,
        channel: n.channel,
        certificate_id: n.certificateId,
      });
      return NotificationDto.from(n);
    });
  }
}
