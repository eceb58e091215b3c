import { Injectable } from '@nestjs/common';
import {
  DEFAULT_EKUS,
  IdPrefix,
  invalid,
  newId,
  normalizeEkus,
  normalizeKeyAlgorithmRules,
  normalizeSanRules,
  notFound,
  type ListResult,
} from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import { rethrowConstraint } from '../database/pg-errors';
import type { Principal } from '../http/request-context';
import { ProfileDto, type CreateProfileDto, type ProfileListQueryDto, type UpdateProfileDto } from './dto/profile.dto';
import { ProfilesRepository, type ProfileWrite } from './profiles.repository';

/**
 * The profile's constraint fields, validated and normalized by the domain rules; every
 * error names its body field. Only the fields present in the body are returned.
 */
function normalizeConstraints(
  body: Pick<UpdateProfileDto, 'allowed_key_algorithms' | 'allowed_ekus' | 'san_rules'>,
): Partial<Pick<ProfileWrite, 'allowedKeyAlgorithms' | 'allowedEkus' | 'sanRules'>> {
  const errors: string[] = [];
  const out: Partial<Pick<ProfileWrite, 'allowedKeyAlgorithms' | 'allowedEkus' | 'sanRules'>> = {};
  if (body.allowed_key_algorithms !== undefined) {
    const n = normalizeKeyAlgorithmRules(body.allowed_key_algorithms);
    errors.push(...n.errors);
    out.allowedKeyAlgorithms = n.value;
  }
  if (body.allowed_ekus !== undefined) {
    const n = normalizeEkus(body.allowed_ekus);
    errors.push(...n.errors);
    out.allowedEkus = n.value;
  }
  if (body.san_rules !== undefined) {
    const n = normalizeSanRules(body.san_rules);
    errors.push(...n.errors);
    out.sanRules = n.value;
  }
  if (errors.length) throw invalid(errors.map((e) => `body.${e}`).join('; '));
  return out;
}

/** The response fields whose value differs (both sides as read back from the database). */
function changedFields(before: ProfileDto, after: ProfileDto): string[] {
  return (Object.keys(after) as (keyof ProfileDto)[]).filter(
    (k) => k !== 'updated_at' && JSON.stringify(before[k]) !== JSON.stringify(after[k]),
  );
}

@Injectable()
export class ProfilesService {
  constructor(
    private readonly repo: ProfilesRepository,
    private readonly audit: AuditRepository,
  ) {}

  list(q: ProfileListQueryDto): Promise<ListResult<Partial<ProfileDto>>> {
    return this.repo.list(q);
  }

  async get(id: string): Promise<ProfileDto> {
    const profile = await this.repo.findById(id);
    if (!profile) throw notFound('profile', id);
    return ProfileDto.from(profile);
  }

  async create(actor: Principal, body: CreateProfileDto): Promise<ProfileDto> {
    const id = body.id ?? newId(IdPrefix.Profile);
    const c = normalizeConstraints({
      allowed_key_algorithms: body.allowed_key_algorithms,
      allowed_ekus: body.allowed_ekus ?? [...DEFAULT_EKUS],
      san_rules: body.san_rules ?? {},
    });
    try {
      return await this.repo.transaction(async (m) => {
        const profile = await this.repo.insert(m, {
          id,
          name: body.name.trim(),
          description: body.description ?? '',
          allowedKeyAlgorithms: c.allowedKeyAlgorithms!,
          maxTtlSeconds: body.max_ttl_seconds,
          allowedEkus: c.allowedEkus!,
          sanRules: c.sanRules!,
          mustStaple: body.must_staple ?? false,
          requiresApproval: body.requires_approval ?? false,
        });
        await this.audit.recordDomain(m, actor, 'profile_created', 'profile', id, {
          name: profile.name,
          requires_approval: profile.requiresApproval,
        });
        return ProfileDto.from(profile);
      });
    } catch (e) {
      rethrowConstraint(e, `profile ${JSON.stringify(id)} or name ${JSON.stringify(body.name)}`);
    }
  }

  async update(actor: Principal, id: string, body: UpdateProfileDto): Promise<ProfileDto> {
    const c = normalizeConstraints(body);
    const patch: Partial<ProfileWrite> = {
      ...(body.name !== undefined && { name: body.name.trim() }),
      ...(body.description !== undefined && { description: body.description }),
      ...(body.max_ttl_seconds !== undefined && { maxTtlSeconds: body.max_ttl_seconds }),
      ...(body.must_staple !== undefined && { mustStaple: body.must_staple }),
      ...(body.requires_approval !== undefined && { requiresApproval: body.requires_approval }),
      ...c,
    };
    try {
      return await this.repo.transaction(async (m) => {
        const before = await this.repo.findForUpdate(m, id);
        if (!before) throw notFound('profile', id);
        const after = ProfileDto.from(await this.repo.update(m, id, patch));
        await this.audit.recordDomain(m, actor, 'profile_updated', 'profile', id, {
          changed: changedFields(ProfileDto.from(before), after),
        });
        return after;
      });
    } catch (e) {
      rethrowConstraint(e, `profile name ${JSON.stringify(body.name)}`);
    }
  }

  /** 409 while managed certificates use the profile. */
  async delete(actor: Principal, id: string): Promise<void> {
    try {
      await this.repo.transaction(async (m) => {
        const profile = await this.repo.findForUpdate(m, id);
        if (!profile) throw notFound('profile', id);
        await this.repo.delete(m, id);
        await this.audit.recordDomain(m, actor, 'profile_deleted', 'profile', id, { name: profile.name });
      });
    } catch (e) {
      rethrowConstraint(e, `profile ${JSON.stringify(id)}`);
    }
  }
}
