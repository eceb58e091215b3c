import { DomainError, ErrorCode } from '../errors/domain-error';
import type { JobStatus } from '../inventory/enums';

/**
 * The job status machine. Only the worker's atomic claim moves Pending -> Running, so a
 * job waiting for approval, a CSR, or one already cancelled can never reach an issuer.
 */
export const JOB_TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  Pending: ['Running', 'AwaitingCSR', 'AwaitingApproval', 'Cancelled'],
  AwaitingApproval: ['Pending', 'Cancelled', 'Failed'],
  AwaitingCSR: ['Running', 'Cancelled', 'Failed'],
  // The order poll completes it (issued), or fails it (rejected, CA unreachable, timed out).
  AwaitingIssuer: ['Completed', 'Failed', 'Cancelled'],
  Running: ['Completed', 'Failed', 'AwaitingCSR', 'AwaitingIssuer'],
  Failed: ['Pending', 'Cancelled'],
  Completed: [],
  Cancelled: [],
};

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return JOB_TRANSITIONS[from].includes(to);
}

/** Throws a 409-class error naming both states when the move is not allowed. */
export function assertTransition(from: JobStatus, to: JobStatus): void {
  if (!canTransition(from, to)) {
    throw new DomainError(ErrorCode.Conflict, `a job cannot go from ${from} to ${to}`, { from, to });
  }
}

export function isTerminal(status: JobStatus): boolean {
  return JOB_TRANSITIONS[status].length === 0;
}

/** The statuses a transition into `to` may start from (for guarded UPDATE ... WHERE). */
export function sourcesOf(to: JobStatus): JobStatus[] {
  return (Object.keys(JOB_TRANSITIONS) as JobStatus[]).filter((from) => JOB_TRANSITIONS[from].includes(to));
}
