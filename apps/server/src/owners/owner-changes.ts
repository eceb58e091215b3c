import type { UpdateOwnerDto } from './dto/owner.dto';
import type { OwnerEntity } from './owner.entity';
import type { OwnerPatch } from './owners.repository';

export interface FieldChange {
  from: string | null;
  to: string | null;
}

/**
 * The fields an update really changes, keyed by their API names, and the entity patch
 * that applies them. Absent fields are kept; `team_id: null` detaches. An email that
 * differs only in case is a change (emails are stored as given).
 */
export function ownerChanges(
  before: Pick<OwnerEntity, 'name' | 'email' | 'teamId'>,
  body: UpdateOwnerDto,
): { patch: OwnerPatch; changes: Record<string, FieldChange> } {
  const patch: OwnerPatch = {};
  const changes: Record<string, FieldChange> = {};
  if (body.name !== undefined && body.name !== before.name) {
    patch.name = body.name;
    changes.name = { from: before.name, to: body.name };
  }
  if (body.email !== undefined && body.email !== before.email) {
    patch.email = body.email;
    changes.email = { from: before.email, to: body.email };
  }
  if (body.team_id !== undefined && body.team_id !== before.teamId) {
    patch.teamId = body.team_id;
    changes.team_id = { from: before.teamId, to: body.team_id };
  }
  return { patch, changes };
}
