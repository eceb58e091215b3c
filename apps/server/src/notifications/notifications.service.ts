import { Injectable } from '@nestjs/common';
import { conflict, notFound, type ListResult } from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import type { Principal } from '../http/request-context';
import { NotificationDto, type NotificationListQueryDto } from './dto/notification.dto';
import { DeliveryRepository } from './delivery.repository';
import { NotificationDispatcher } from './delivery.service';
import { NotificationsRepository } from './notifications.repository';

/** The notification inbox: list, read, mark read, and requeue of failed or dead deliveries. */
@Injectable()
export class NotificationsService {
  constructor(
    private readonly repo: NotificationsRepository,
    private readonly audit: AuditRepository,
    private readonly delivery: DeliveryRepository,
    private readonly dispatcher: NotificationDispatcher,
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

  /**
   * A dead (or failed) row goes back to pending with a fresh attempt budget, audited, and is
   * enqueued after the commit. Any other state is a conflict: a pending row is on its way, a
   * sent one was delivered.
   */
  async requeue(actor: Principal, id: string): Promise<NotificationDto> {
    const requeued = await this.repo.transaction(async (m) => {
      const before = await this.repo.findForUpdate(m, id);
      if (!before) throw notFound('notification', id);
      const due = await this.delivery.requeue(m, id);
      if (!due)
        throw conflict(`notification ${id} is ${before.status}; only failed or dead notifications can be requeued`);
      await this.audit.recordDomain(m, actor, 'notification_requeued', 'notification', id, {
        channel: before.channel,
        previous_status: before.status,
        previous_retry_count: before.retryCount,
        last_error: before.lastError,
      });
      return { due, dto: NotificationDto.from((await this.repo.findById(id, m))!) };
    });
    await this.dispatcher.enqueue([requeued.due]);
    return requeued.dto;
  }
}
