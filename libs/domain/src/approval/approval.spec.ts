import { DomainError, ErrorCode } from '../errors/domain-error';
import { decide, type DecisionContext } from './approval';

const ctx = (over: Partial<DecisionContext> = {}): DecisionContext => ({
  state: 'pending',
  requested_by: 'alice',
  policy: { required_approvals: 1, approver_roles: [] },
  approvals: [],
  ...over,
});
const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return e instanceof DomainError ? `${e.code}: ${e.message}` : String(e);
  }
  return undefined;
};

describe('approval decisions', () => {
  it('refuses the requester with a two-person integrity 403, for approve and reject', () => {
    expect(code(() => decide(ctx(), { actorId: 'alice', roles: [] }, 'approve'))).toMatch(
      new RegExp(`^${ErrorCode.Forbidden}: two-person integrity`),
    );
    expect(code(() => decide(ctx(), { actorId: 'alice', roles: [] }, 'reject'))).toContain('two-person integrity');
  });

  it('approves with one other actor by default, rejects on any rejection', () => {
    expect(decide(ctx(), { actorId: 'bob', roles: [] }, 'approve')).toEqual({ state: 'approved', approvals: 1 });
    expect(decide(ctx(), { actorId: 'bob', roles: [] }, 'reject')).toEqual({ state: 'rejected' });
  });

  it('a decided request cannot be decided again (409)', () => {
    for (const state of ['approved', 'rejected', 'expired'] as const) {
      expect(code(() => decide(ctx({ state }), { actorId: 'bob', roles: [] }, 'approve'))).toMatch(
        new RegExp(`^${ErrorCode.Conflict}: .*already ${state}`),
      );
    }
  });

  it('M-of-N: needs N distinct approvers, counts each once, honours the role pool', () => {
    const policy = { required_approvals: 2, approver_roles: ['role-security'] };
    const sec = (id: string) => ({ actorId: id, roles: ['role-security'] });
    expect(decide(ctx({ policy }), sec('bob'), 'approve')).toEqual({ state: 'pending', approvals: 1, remaining: 1 });
    expect(code(() => decide(ctx({ policy, approvals: ['bob'] }), sec('bob'), 'approve'))).toMatch(/already approved/);
    expect(decide(ctx({ policy, approvals: ['bob'] }), sec('carol'), 'approve')).toEqual({
      state: 'approved',
      approvals: 2,
    });
    expect(code(() => decide(ctx({ policy }), { actorId: 'dave', roles: ['role-operator'] }, 'approve'))).toMatch(
      new RegExp(`^${ErrorCode.Forbidden}: only holders of role-security`),
    );
  });
});
