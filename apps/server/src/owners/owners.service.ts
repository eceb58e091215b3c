import { Injectable } from '@nestjs/common';
import { conflict, IdPrefix, newId, notFound, type ListResult } from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import { isUniqueViolation, rethrowConstraint } from '../database/pg-errors';
import type { Principal } from '../http/request-context';
import { OwnerDto, type CreateOwnerDto, type OwnerListQueryDto, type UpdateOwnerDto } from './dto/owner.dto';
import { ownerChanges } from './owner-changes';
import { OWNER_EMAIL_INDEX, OwnersRepository } from './owners.repository';

/** A clash on the case-insensitive email index -> 409 naming the field; other constraints as usual. */
function rethrowOwnerConstraint(e: unknown, email: string | undefined, what: string): never {
  if (email !== undefined && isUniqueViolation(e, OWNER_EMAIL_INDEX)) {
    throw conflict(`body.email: an owner with email ${JSON.stringify(email)} already exists (case-insensitive)`, {
      field: 'email',
    });
  }
  rethrowConstraint(e, what);
}

@Injectable()
export class OwnersService {
  constructor(
    private readonly repo: OwnersRepository,
    private readonly audit: AuditRepository,
  ) {}

  list(q: OwnerListQueryDto): Promise<ListResult<Partial<OwnerDto>>> {
    return this.repo.list(q);
  }

  async get(id: string): Promise<OwnerDto> {
    const owner = await this.repo.findById(id);
    if (!owner) throw notFound('owner', id);
    return OwnerDto.from(owner);
  }

  /** A missing team_id is a 400 naming body.team_id (foreign key), a taken id or email a 409. */
  async create(actor: Principal, body: CreateOwnerDto): Promise<OwnerDto> {
    const id = body.id ?? newId(IdPrefix.Owner);
    try {
      return await this.repo.transaction(async (m) => {
        const owner = await this.repo.insert(m, {
          id,
          name: body.name,
          email: body.email,
          teamId: body.team_id ?? null,
        });
        await this.audit.recordDomain(m, actor, 'owner_created', 'owner', id, {
          name: owner.name,
          email: owner.email,
          team_id: owner.teamId,
        });
        return OwnerDto.from(owner);
      });
    } catch (e) {
      rethrowOwnerConstraint(e, body.email, `owner ${JSON.stringify(id)}`);
    }
  }

  /** Partial update; a request that changes nothing writes nothing and audits nothing. */
  async update(actor: Principal, id: string, body: UpdateOwnerDto): Promise<OwnerDto> {
    try {
      return await this.repo.transaction(async (m) => {
        const before = await this.repo.findForUpdate(m, id);
        if (!before) throw notFound('owner', id);
        const { patch, changes } = ownerChanges(before, body);
        if (Object.keys(changes).length === 0) return OwnerDto.from(before);
        const owner = await this.repo.update(m, id, patch);
        await this.audit.recordDomain(m, actor, 'owner_updated', 'owner', id, {
          changed: Object.keys(changes),
          changes,
        });
        return OwnerDto.from(owner);
      });
    } catch (e) {
      rethrowOwnerConstraint(e, body.email, `owner ${JSON.stringify(id)}`);
    }
  }

  /** 409 while managed certificates (archived ones included) name the owner. */
  async delete(actor: Principal, id: string): Promise<void> {
    try {
      await this.repo.transaction(async (m) => {
        const owner = await this.repo.findForUpdate(m, id);
        if (!owner) throw notFound('owner', id);
        const certs = await this.repo.countCertificateReferences(m, id);
        if (certs > 0) {
          throw conflict(
            `owner ${JSON.stringify(id)} is still referenced by ${certs} managed_certificates; reassign or delete them first`,
            { referenced_by: 'managed_certificates', count: certs },
          );
        }
        await this.repo.delete(m, id);
        await this.audit.recordDomain(m, actor, 'owner_deleted', 'owner', id, {
          name: owner.name,
          email: owner.email,
          team_id: owner.teamId,
        });
      });
    } catch (e) {
      rethrowConstraint(e, `owner ${JSON.stringify(id)}`);
    }
  }
}
