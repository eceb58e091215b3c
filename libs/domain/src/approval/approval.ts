import { DomainError, ErrorCode } from '../errors/domain-error';

export const ApprovalKind = { CertIssuance: 'cert_issuance', ProfileEdit: 'profile_edit' } as const;
export type ApprovalKind = (typeof ApprovalKind)[keyof typeof ApprovalKind];

export const ApprovalState = {
  Pending: 'pending',
  Approved: 'approved',
  Rejected: 'rejected',
  Expired: 'expired',
} as const;
export type ApprovalState = (typeof ApprovalState)[keyof typeof ApprovalState];
export const APPROVAL_STATES: readonly ApprovalState[] = Object.values(ApprovalState);

export type ApprovalDecision = 'approve' | 'reject';

/** Actors the server itself decides as. */
export const APPROVAL_BYPASS_ACTOR = 'system-bypass';
export const APPROVAL_REAPER_ACTOR = 'system-reaper';

/** Who may decide a request, and how many must approve (from the profile's approval policy). */
export interface ApprovalPolicy {
  /** N of M-of-N; 1 is the classic two-person rule (requester + one approver). */
  required_approvals: number;
  /** When non-empty, an approver must hold one of these role ids. */
  approver_roles: readonly string[];
}

export const DEFAULT_APPROVAL_POLICY: Readonly<ApprovalPolicy> = { required_approvals: 1, approver_roles: [] };
export const MAX_REQUIRED_APPROVALS = 10;

export interface DecisionContext {
  state: ApprovalState;
  requested_by: string;
  policy: ApprovalPolicy;
  /** Actors who already approved (distinct). */
  approvals: readonly string[];
}

export interface Decider {
  actorId: string;
  roles: readonly string[];
}

/** What a valid decision does to the request. */
export type DecisionOutcome =
  | { state: 'approved'; approvals: number }
  | { state: 'rejected' }
  | { state: 'pending'; approvals: number; remaining: number };

const TWO_PERSON = 'two-person integrity';

/**
 * The rules of one decision, pure: a decided request cannot be decided again (409); the
 * requester never decides their own request (403, message contains "two-person integrity");
 * with approver roles set the decider must hold one (403); an actor approves once (409).
 * One rejection rejects; N distinct approvals approve.
 */
export function decide(ctx: DecisionContext, by: Decider, decision: ApprovalDecision): DecisionOutcome {
  if (ctx.state !== ApprovalState.Pending) {
    throw new DomainError(ErrorCode.Conflict, `the approval request is already ${ctx.state}`, { state: ctx.state });
  }
  if (by.actorId === ctx.requested_by) {
    throw new DomainError(
      ErrorCode.Forbidden,
      `${TWO_PERSON}: ${by.actorId} requested this and cannot ${decision} it; another actor must decide`,
    );
  }
  const pool = ctx.policy.approver_roles;
  if (pool.length > 0 && !by.roles.some((r) => pool.includes(r))) {
    throw new DomainError(
      ErrorCode.Forbidden,
      `only holders of ${pool.join(', ')} may decide this request (the profile's approver roles)`,
    );
  }
  if (decision === 'reject') return { state: 'rejected' };
  if (ctx.approvals.includes(by.actorId)) {
    throw new DomainError(ErrorCode.Conflict, `${by.actorId} has already approved this request`);
  }
  const approvals = ctx.approvals.length + 1;
  const required = Math.max(1, ctx.policy.required_approvals);
  return approvals >= required
    ? { state: 'approved', approvals }
    : { state: 'pending', approvals, remaining: required - approvals };
}
