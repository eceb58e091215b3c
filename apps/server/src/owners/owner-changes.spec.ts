import { ownerChanges } from './owner-changes';

describe('ownerChanges', () => {
  const before = { name: 'Alice', email: 'alice@example.com', teamId: 'team-a' };

  it('keeps absent fields and reports nothing for an empty update', () => {
    expect(ownerChanges(before, {})).toEqual({ patch: {}, changes: {} });
  });

  it('ignores fields set to their current value', () => {
    expect(ownerChanges(before, { name: 'Alice', email: 'alice@example.com', team_id: 'team-a' })).toEqual({
      patch: {},
      changes: {},
    });
  });

  it('maps team_id to the entity column and reports from/to by API name', () => {
    expect(ownerChanges(before, { name: 'Alicia', team_id: 'team-b' })).toEqual({
      patch: { name: 'Alicia', teamId: 'team-b' },
      changes: { name: { from: 'Alice', to: 'Alicia' }, team_id: { from: 'team-a', to: 'team-b' } },
    });
  });

  it('treats team_id null as a detach, and undefined as keep', () => {
    expect(ownerChanges(before, { team_id: null }).patch).toEqual({ teamId: null });
    expect(ownerChanges({ ...before, teamId: null }, { team_id: null }).changes).toEqual({});
    expect(ownerChanges(before, { team_id: undefined }).patch).toEqual({});
  });

  it('counts an email that differs only in case as a change', () => {
    expect(ownerChanges(before, { email: 'Alice@Example.com' }).changes).toEqual({
      email: { from: 'alice@example.com', to: 'Alice@Example.com' },
    });
  });
});
