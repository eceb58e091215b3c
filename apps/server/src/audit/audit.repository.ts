import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager, type SelectQueryBuilder } from 'typeorm';
import { IdPrefix, newId, type ListResult } from '@certctl/domain';
import type { Principal } from '../http/request-context';
import { paginate } from '../database/paginate';
import { AUDIT_EVENT_FIELDS, AuditEventDto, type AuditFilterDto, type AuditListQueryDto } from './dto/audit-event.dto';
import { AuditEventEntity, type AuditCategory } from './audit-event.entity';

export interface NewAuditEvent {
  id: string;
  category: AuditCategory;
  actor: string;
  actorType: string;
  action: string;
  resourceType: string;
  resourceId: string;
  details: Record<string, unknown>;
  createdAt?: Date;
}

/** The actor of what the server does on its own (loops, first-use CA creation, ...). */
export const SYSTEM_ACTOR: Pick<Principal, 'actorId' | 'actorType'> = Object.freeze({
  actorId: 'system',
  actorType: 'System',
});

@Injectable()
export class AuditRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /**
   * Inserts one event; a second insert of the same id is a no-op, so a replayed queue
   * message or a retry after an unknown outcome never duplicates a row.
   */
  async insert(e: NewAuditEvent, manager: EntityManager = this.ds.manager, timeoutMs?: number): Promise<void> {
    const sql = `INSERT INTO audit_events (id, category, actor, actor_type, action, resource_type, resource_id, details, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE($9::timestamptz, now()))
       ON CONFLICT (id) DO NOTHING`;
    const params = [
      e.id,
      e.category,
      e.actor,
      e.actorType,
      e.action,
      e.resourceType,
      e.resourceId,
      JSON.stringify(e.details),
      e.createdAt?.toISOString() ?? null,
    ];
    if (timeoutMs === undefined) {
      await manager.query(sql, params);
      return;
    }
    // Bounded wait: a locked or slow table must not pile up request-path inserts.
    await manager.transaction(async (tx) => {
      await tx.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
      await tx.query(sql, params);
    });
  }

  /**
   * A domain event (`certificate_created`, `role_deleted`, ...) written in the caller's
   * transaction, so the change and its audit row commit or roll back together.
   */
  async recordDomain(
    m: EntityManager,
    actor: Pick<Principal, 'actorId' | 'actorType'>,
    action: string,
    resourceType: string,
    resourceId: string,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    await this.insert(
      {
        id: newId(IdPrefix.AuditEvent),
        category: 'domain',
        actor: actor.actorId,
        actorType: actor.actorType,
        action,
        resourceType,
        resourceId,
        details,
      },
      m,
    );
  }

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  async findById(id: string): Promise<AuditEventEntity | null> {
    return this.ds.getRepository(AuditEventEntity).findOneBy({ id });
  }

  private filtered(q: AuditFilterDto): SelectQueryBuilder<AuditEventEntity> {
    const qb = this.ds.getRepository(AuditEventEntity).createQueryBuilder('a');
    if (q.category) qb.andWhere('a.category = :category', { category: q.category });
    if (q.actor) qb.andWhere('a.actor = :actor', { actor: q.actor });
    if (q.action) qb.andWhere('a.action = :action', { action: q.action });
    if (q.resource_type) qb.andWhere('a.resource_type = :rt', { rt: q.resource_type });
    if (q.resource_id) qb.andWhere('a.resource_id = :rid', { rid: q.resource_id });
    if (q.since) qb.andWhere('a.created_at >= :since', { since: q.since });
    if (q.until) qb.andWhere('a.created_at < :until', { until: q.until });
    return qb;
  }

  async list(q: AuditListQueryDto): Promise<ListResult<Partial<AuditEventDto>>> {
    return paginate(this.filtered(q), q, {
      sortable: {
        created_at: 'a.created_at',
        timestamp: 'a.created_at',
        actor: { column: 'a.actor', kind: 'text' },
        action: { column: 'a.action', kind: 'text' },
      },
      defaultSort: '-created_at',
      fields: AUDIT_EVENT_FIELDS,
      toDto: AuditEventDto.from,
    });
  }

  /**
   * Every matching event, oldest first, in keyset batches: memory stays flat however
   * large the trail, and each batch is an index range scan on (created_at, id).
   */
  async *scan(q: AuditFilterDto, batchSize = 1000): AsyncGenerator<AuditEventEntity[]> {
    let after: { t: string; id: string } | undefined;
    for (;;) {
      const qb = this.filtered(q)
        .addSelect(`to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`, 'cursor_t')
        .orderBy('a.created_at', 'ASC')
        .addOrderBy('a.id', 'ASC')
        .limit(batchSize);
      if (after) {
        qb.andWhere('(a.created_at, a.id) > (CAST(:afterT AS timestamptz), :afterId)', {
          afterT: after.t,
          afterId: after.id,
        });
      }
      const { entities, raw } = await qb.getRawAndEntities<{ cursor_t: string }>();
      if (entities.length === 0) return;
      yield entities;
      if (entities.length < batchSize) return;
      after = { t: raw[raw.length - 1].cursor_t, id: entities[entities.length - 1].id };
    }
  }
}
