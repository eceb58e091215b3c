import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { ListResult } from '@certctl/domain';
import { paginate } from '../database/paginate';
import { NOTIFICATION_FIELDS, NotificationDto, type NotificationListQueryDto } from './dto/notification.dto';
import { NotificationEventEntity } from './notification-event.entity';

@Injectable()
export class NotificationsRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  findById(id: string, m: EntityManager = this.ds.manager): Promise<NotificationEventEntity | null> {
    return m.getRepository(NotificationEventEntity).findOneBy({ id });
  }

  /** Locks the row for the rest of the transaction, so concurrent mark-reads serialize. */
  findForUpdate(m: EntityManager, id: string): Promise<NotificationEventEntity | null> {
    return m.getRepository(NotificationEventEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  async markRead(m: EntityManager, id: string, at: Date): Promise<NotificationEventEntity> {
    await m.getRepository(NotificationEventEntity).update({ id }, { readAt: at, updatedAt: at });
    return (await this.findById(id, m))!;
  }

  list(q: NotificationListQueryDto): Promise<ListResult<Partial<NotificationDto>>> {
    const qb = this.ds.getRepository(NotificationEventEntity).createQueryBuilder('n');
    if (q.status !== undefined) qb.andWhere('n.status = :status', { status: q.status });
    if (q.type !== undefined) qb.andWhere('lower(n.type) = lower(:type)', { type: q.type });
    if (q.channel !== undefined) qb.andWhere('lower(n.channel) = lower(:channel)', { channel: q.channel });
    if (q.certificate_id !== undefined) qb.andWhere('n.certificate_id = :certId', { certId: q.certificate_id });
    if (q.unread === true) qb.andWhere('n.read_at IS NULL');
    if (q.unread === false) qb.andWhere('n.read_at IS NOT NULL');
    return paginate(qb, q, {
      sortable: {
        created_at: 'n.created_at',
        updated_at: 'n.updated_at',
        sent_at: { column: 'n.sent_at', kind: 'timestamp', nullable: true },
        next_retry_at: { column: 'n.next_retry_at', kind: 'timestamp', nullable: true },
      },
      defaultSort: '-created_at',
      fields: NOTIFICATION_FIELDS,
      toDto: NotificationDto.from,
    });
  }
}
