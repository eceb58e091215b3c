import type { ApprovalPolicy } from '@certctl/domain';
import type { ProfileEntity } from './profile.entity';
import type { ProfileWrite } from './profiles.repository';

/** A validated, normalized change to a profile: only the fields it sets. */
export type ProfilePatch = Partial<ProfileWrite>;

/** Entity field -> API (and approval payload) field. */
export const PROFILE_PATCH_FIELDS = {
  name: 'name',
  description: 'description',
  allowedKeyAlgorithms: 'allowed_key_algorithms',
  maxTtlSeconds: 'max_ttl_seconds',
  allowedEkus: 'allowed_ekus',
  sanRules: 'san_rules',
  mustStaple: 'must_staple',
  requiresApproval: 'requires_approval',
  requiredApprovals: 'required_approvals',
  approverRoles: 'approver_roles',
  acmeAuthMode: 'acme_auth_mode',
  acmeEabRequired: 'acme_eab_required',
} as const satisfies Record<keyof ProfileWrite, string>;

type PatchKey = keyof typeof PROFILE_PATCH_FIELDS;
const PATCH_KEYS = Object.keys(PROFILE_PATCH_FIELDS) as PatchKey[];
const BY_API_FIELD = new Map(PATCH_KEYS.map((k) => [PROFILE_PATCH_FIELDS[k] as string, k]));
/** Fields whose null is a value (back to the server-wide default), not a missing change. */
const NULLABLE: ReadonlySet<PatchKey> = new Set(['acmeAuthMode', 'acmeEabRequired']);

/** JSON with object keys sorted: jsonb reorders keys, so plain JSON.stringify would see changes that are not. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : val,
  );
}

/** The part of `patch` that would change `before` (a re-sent unchanged field is no change). */
export function effectiveChanges(before: ProfileEntity, patch: ProfilePatch): ProfilePatch {
  const out: Record<string, unknown> = {};
  for (const k of PATCH_KEYS) {
    if (patch[k] !== undefined && canonical(patch[k]) !== canonical(before[k])) out[k] = patch[k];
  }
  return out;
}

/**
 * An edit is gated when the profile is gated now (a flip off, or any edit while it stays
 * on) or when the edit turns the gate on: every path through an approval-tier profile
 * needs a second person, so no sequence of edits can slip a change past the gate.
 */
export function isEditGated(before: ProfileEntity, patch: ProfilePatch): boolean {
  return before.requiresApproval || patch.requiresApproval === true;
}

/**
 * The policy an edit is decided under: the stricter of the profile's current policy and
 * the one the edit proposes, so an edit can neither lower the bar it is judged by nor
 * hand its approval to a new pool. required_approvals: the larger (at least 1). Approver
 * roles: when one side is open (empty), the other; when both name roles, the roles they
 * share, or the current pool when they share none (the people already trusted with the
 * profile decide whether a different pool takes over).
 */
export function editApprovalPolicy(before: ProfileEntity, patch: ProfilePatch): ApprovalPolicy {
  const proposedN = patch.requiredApprovals ?? before.requiredApprovals;
  const current = before.approverRoles;
  const proposed = patch.approverRoles ?? current;
  let roles: readonly string[];
  if (current.length === 0) roles = proposed;
  else if (proposed.length === 0) roles = current;
  else {
    const shared = current.filter((r) => proposed.includes(r));
    roles = shared.length > 0 ? shared : current;
  }
  return { required_approvals: Math.max(1, before.requiredApprovals, proposedN), approver_roles: [...roles] };
}

/** What a profile_edit request stores: the changes in API field names, and the values they replace (for reviewers). */
export interface ProfileEditPayload {
  changes: Record<string, unknown>;
  previous: Record<string, unknown>;
  [key: string]: unknown;
}

export function toEditPayload(before: ProfileEntity, changes: ProfilePatch): ProfileEditPayload {
  const payload: ProfileEditPayload = { changes: {}, previous: {} };
  for (const k of PATCH_KEYS) {
    if (changes[k] === undefined) continue;
    payload.changes[PROFILE_PATCH_FIELDS[k]] = changes[k];
    payload.previous[PROFILE_PATCH_FIELDS[k]] = before[k];
  }
  return payload;
}

/** The stored changes back as a patch; a payload this server did not write is an error, never half-applied. */
export function fromEditPayload(payload: Record<string, unknown> | null): ProfilePatch {
  const changes = payload?.changes;
  if (!changes || typeof changes !== 'object' || Array.isArray(changes)) {
    throw new Error('profile_edit approval payload has no changes object');
  }
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(changes)) {
    const key = BY_API_FIELD.get(field);
    if (!key || value === undefined || (value === null && !NULLABLE.has(key))) {
      throw new Error(`profile_edit approval payload has an unexpected change ${JSON.stringify(field)}`);
    }
    out[key] = value;
  }
  return out;
}
