import type { EntityManager } from 'typeorm';
import type { ActorType } from '@certctl/domain';

/** Who acts: an API key, a user, an agent, or the server itself. */
export interface ApprovalActor {
  actorId: string;
  actorType: ActorType;
  /** Role ids the actor holds (for profiles that name approver roles). */
  roles?: readonly string[];
}

/**
 * Where the workflow writes audit rows: inside the caller's transaction, so a decision and
 * its audit row commit together. The server binds it to its audit repository.
 */
export abstract class ApprovalAudit {
  abstract record(
    m: EntityManager,
    actor: Pick<ApprovalActor, 'actorId' | 'actorType'>,
    action: string,
    resourceType: string,
    resourceId: string,
    details: Record<string, unknown>,
  ): Promise<void>;
}

export type ApprovalOutcome = 'approved' | 'rejected' | 'expired' | 'bypassed';

/** Prometheus side: certctl_approval_decisions_total and certctl_approval_pending_age_seconds. */
export abstract class ApprovalMetrics {
  abstract decided(outcome: ApprovalOutcome, profileId: string | null, pendingSeconds: number): void;
}

export abstract class ApprovalSettings {
  /** CERTCTL_APPROVAL_BYPASS: every request is approved at once by `system-bypass` (dev/CI only). */
  abstract readonly bypass: boolean;
  /** CERTCTL_JOB_AWAITING_APPROVAL_TIMEOUT: pending requests older than this expire. */
  abstract readonly timeoutMs: number;
}
