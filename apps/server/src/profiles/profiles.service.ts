import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import {
  APPROVAL_BYPASS_ACTOR,
  ApprovalKind,
  conflict,
  DEFAULT_APPROVAL_POLICY,
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
import { ApprovalWorkflow, type ApprovalActor, type ApprovalRequestRow } from '@certctl/approval';
import { AuditRepository } from '../audit/audit.repository';
import { isUniqueViolation, rethrowConstraint } from '../database/pg-errors';
import type { Principal } from '../http/request-context';
import { ProfileDto, type CreateProfileDto, type ProfileListQueryDto, type UpdateProfileDto } from './dto/profile.dto';
import {
  editApprovalPolicy,
  effectiveChanges,
  fromEditPayload,
  isEditGated,
  toEditPayload,
  type ProfilePatch,
} from './profile-edit';
import type { ProfileEntity } from './profile.entity';
import { ProfilesRepository, type ProfileWrite } from './profiles.repository';

/** A PUT either changed the profile (200) or queued the edit for approval (202). */
export type ProfileUpdateOutcome = { profile: ProfileDto } | { pending_approval_id: string };

type Actor = Pick<ApprovalActor, 'actorId' | 'actorType'>;
type NormalizedFields = Partial<
  Pick<ProfileWrite, 'allowedKeyAlgorithms' | 'allowedEkus' | 'sanRules' | 'approverRoles'>
>;

/**
 * The profile's constraint fields, validated and normalized by the domain rules; every
 * error names its body field. Only the fields present in the body are returned.
 */
function normalizeConstraints(body: Pick<UpdateProfileDto, 'allowed_key_algorithms' | 'allowed_ekus' | 'san_rules'>): {
  out: NormalizedFields;
  errors: string[];
} {
  const errors: string[] = [];
  const out: NormalizedFields = {};
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
  return { out, errors: errors.map((e) => `body.${e}`) };
}

/** The response fields whose value differs (both sides as read back from the database). */
function changedFields(before: ProfileDto, after: ProfileDto): string[] {
  return (Object.keys(after) as (keyof ProfileDto)[]).filter(
    (k) => k !== 'updated_at' && JSON.stringify(before[k]) !== JSON.stringify(after[k]),
  );
}

/** Approver role ids once each, in the order given. */
const dedupe = (ids: readonly string[]): string[] => [...new Set(ids)];

@Injectable()
export class ProfilesService {
  constructor(
    private readonly repo: ProfilesRepository,
    private readonly audit: AuditRepository,
    private readonly approvals: ApprovalWorkflow,
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
    const c = await this.normalize({
      allowed_key_algorithms: body.allowed_key_algorithms,
      allowed_ekus: body.allowed_ekus ?? [...DEFAULT_EKUS],
      san_rules: body.san_rules ?? {},
      approver_roles: body.approver_roles ?? [...DEFAULT_APPROVAL_POLICY.approver_roles],
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
          requiredApprovals: body.required_approvals ?? DEFAULT_APPROVAL_POLICY.required_approvals,
          approverRoles: c.approverRoles!,
          acmeAuthMode: body.acme_auth_mode ?? null,
          acmeEabRequired: body.acme_eab_required ?? null,
        });
        await this.audit.recordDomain(m, actor, 'profile_created', 'profile', id, {
          name: profile.name,
          requires_approval: profile.requiresApproval,
          required_approvals: profile.requiredApprovals,
          approver_roles: profile.approverRoles,
        });
        return ProfileDto.from(profile);
      });
    } catch (e) {
      rethrowConstraint(e, `profile ${JSON.stringify(id)} or name ${JSON.stringify(body.name)}`);
    }
  }

  /**
   * Partial update. A profile that requires approval, or an edit that would make it do so,
   * is not changed here: the validated changes are stored as a profile_edit approval
   * request (202 with its id) and applied when approved (applyApprovedEdit). One pending
   * edit per profile; any PUT meanwhile is a 409 naming it. With CERTCTL_APPROVAL_BYPASS
   * the request is approved at once by system-bypass and the edit applied (200).
   */
  async update(actor: Principal, id: string, body: UpdateProfileDto): Promise<ProfileUpdateOutcome> {
    const c = await this.normalize(body);
    const patch: ProfilePatch = {
      ...(body.name !== undefined && { name: body.name.trim() }),
      ...(body.description !== undefined && { description: body.description }),
      ...(body.max_ttl_seconds !== undefined && { maxTtlSeconds: body.max_ttl_seconds }),
      ...(body.must_staple !== undefined && { mustStaple: body.must_staple }),
      ...(body.requires_approval !== undefined && { requiresApproval: body.requires_approval }),
      ...(body.required_approvals !== undefined && { requiredApprovals: body.required_approvals }),
      // null clears the override: the profile follows the server-wide ACME default again.
      ...(body.acme_auth_mode !== undefined && { acmeAuthMode: body.acme_auth_mode }),
      ...(body.acme_eab_required !== undefined && { acmeEabRequired: body.acme_eab_required }),
      ...c,
    };
    try {
      return await this.repo.transaction(async (m): Promise<ProfileUpdateOutcome> => {
        const before = await this.repo.findForUpdate(m, id);
        if (!before) throw notFound('profile', id);
        const pending = await this.repo.pendingEditId(m, id);
        if (pending) throw this.pendingConflict(id, pending);
        if (!isEditGated(before, patch)) {
          return { profile: await this.apply(m, actor, before, patch, 'profile_updated', {}) };
        }
        const changes = effectiveChanges(before, patch);
        // Re-sending what is already there changes nothing, so there is nothing to approve.
        if (Object.keys(changes).length === 0) return { profile: ProfileDto.from(before) };
        if (changes.name !== undefined) await this.assertNameFree(m, id, changes.name);
        const { request, bypassed } = await this.approvals.request(m, {
          kind: ApprovalKind.ProfileEdit,
          requestedBy: actor,
          policy: editApprovalPolicy(before, changes),
          profileId: id,
          payload: toEditPayload(before, changes),
        });
        if (!bypassed) return { pending_approval_id: request.id };
        return { profile: await this.applyEdit(m, request, { actorId: APPROVAL_BYPASS_ACTOR, actorType: 'System' }) };
      });
    } catch (e) {
      // Two gated PUTs racing past the row lock cannot both queue: the partial unique index decides.
      if (isUniqueViolation(e, 'approval_requests_pending_edit_idx')) {
        throw conflict(`profile ${JSON.stringify(id)} already has an edit awaiting approval; decide it first`);
      }
      rethrowConstraint(e, `profile name ${JSON.stringify(body.name)}`);
    }
  }

  /**
   * The profile_edit applier: applies the stored changes of an approved request inside the
   * deciding transaction, audited `profile.edit_applied` as the (last) approver. A name
   * taken or an approver role deleted meanwhile is a 409 and the request stays pending.
   */
  async applyApprovedEdit(m: EntityManager, request: ApprovalRequestRow, approver: Actor): Promise<void> {
    await this.applyEdit(m, request, approver);
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

  private async applyEdit(m: EntityManager, request: ApprovalRequestRow, approver: Actor): Promise<ProfileDto> {
    const id = request.profile_id;
    if (!id) throw new Error(`profile_edit approval request ${request.id} names no profile`);
    const patch = fromEditPayload(request.payload);
    const before = await this.repo.findForUpdate(m, id);
    if (!before) throw notFound('profile', id);
    if (patch.name !== undefined) await this.assertNameFree(m, id, patch.name);
    if (patch.approverRoles?.length) {
      const existing = await this.repo.existingRoleIds(patch.approverRoles, m);
      const gone = patch.approverRoles.filter((r) => !existing.has(r));
      if (gone.length) {
        throw conflict(
          `approver role(s) ${gone.join(', ')} no longer exist; reject request ${request.id} and submit the edit again`,
        );
      }
    }
    return this.apply(m, approver, before, patch, 'profile.edit_applied', {
      approval_request_id: request.id,
      requested_by: request.requested_by,
      ...(approver.actorId === APPROVAL_BYPASS_ACTOR && { approval_bypassed: true }),
    });
  }

  private async apply(
    m: EntityManager,
    actor: Actor,
    before: ProfileEntity,
    patch: ProfilePatch,
    action: string,
    details: Record<string, unknown>,
  ): Promise<ProfileDto> {
    const after = ProfileDto.from(await this.repo.update(m, before.id, patch));
    await this.audit.recordDomain(m, actor, action, 'profile', before.id, {
      ...details,
      changed: changedFields(ProfileDto.from(before), after),
    });
    return after;
  }

  private async assertNameFree(m: EntityManager, id: string, name: string): Promise<void> {
    const holder = await this.repo.nameTakenBy(m, name, id);
    if (holder) throw conflict(`profile name ${JSON.stringify(name)} already exists (profile ${holder})`);
  }

  private pendingConflict(id: string, pendingId: string) {
    return conflict(
      `profile ${JSON.stringify(id)} has an edit awaiting approval (${pendingId}); approve or reject it before editing again`,
      { pending_approval_id: pendingId },
    );
  }

  /**
   * The fields that need more than the DTO's type checks, validated and normalized; every
   * error names its body field, all of them at once. Only the fields present are returned.
   */
  private async normalize(
    body: Pick<UpdateProfileDto, 'allowed_key_algorithms' | 'allowed_ekus' | 'san_rules' | 'approver_roles'>,
  ): Promise<NormalizedFields> {
    const { out, errors } = normalizeConstraints(body);
    const given = body.approver_roles;
    if (given !== undefined) {
      const roles = dedupe(given);
      const existing = await this.repo.existingRoleIds(roles);
      given.forEach((r, i) => {
        if (!existing.has(r) && given.indexOf(r) === i) {
          errors.push(`body.approver_roles.${i}: role ${JSON.stringify(r)} does not exist`);
        }
      });
      out.approverRoles = roles;
    }
    if (errors.length) throw invalid(errors.join('; '));
    return out;
  }
}
