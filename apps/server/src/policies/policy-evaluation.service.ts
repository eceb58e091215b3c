import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { compilePolicyRule, notFound, type RuleCheck } from '@certctl/domain';
import { PolicyViolationDto } from './dto/policy.dto';
import { PoliciesRepository, type ViolationWrite } from './policies.repository';
import type { PolicyRuleEntity } from './policy.entity';

/** Certificates per transaction in a rule-wide pass. */
export const EVALUATION_BATCH_SIZE = 500;
const PG_DEADLOCK = '40P01';
const PG_SERIALIZATION_FAILURE = '40001';

/** What the findings depend on (type and config); severity and name changes do not. */
function ruleVersion(rule: Pick<PolicyRuleEntity, 'type' | 'config'>): string {
  return JSON.stringify([rule.type, rule.config]);
}

function pgCode(e: unknown): string | undefined {
  const inner = (e as { driverError?: { code?: unknown } } | null)?.driverError ?? e;
  const code = (inner as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Keeps `policy_violations` in step with the rules and the certificates:
 * - `evaluateCertificate` runs inside the caller's transaction (certificate create and
 *   update) and replaces that certificate's findings;
 * - `evaluateRule` re-checks every live certificate against one rule after the rule is
 *   created, changed or enabled, in keyset batches of EVALUATION_BATCH_SIZE, one
 *   transaction each. Passes for one rule run one at a time; requests made while a pass
 *   runs coalesce into a single follow-up pass, so the last rule version always wins.
 *
 * Passes run in this process (not a queue): a crash mid-pass leaves earlier batches
 * evaluated and the rest stale until the rule or the certificate is next written.
 */
@Injectable()
export class PolicyEvaluationService implements OnModuleDestroy {
  private readonly logger = new Logger(PolicyEvaluationService.name);
  /** Per rule: the latest scheduled pass, and the pass not yet started (if any). */
  private readonly chains = new Map<string, { tail: Promise<void>; queued?: Promise<void> }>();
  private stopping = false;

  constructor(private readonly repo: PoliciesRepository) {}

  /**
   * Evaluates every enabled rule against one certificate, inside the caller's transaction
   * (after its write, so the row is current and locked), and makes the results its stored
   * violations: new findings are inserted, resolved ones deleted, unchanged ones keep their
   * id and created_at. An archived certificate has no violations. Returns what is stored.
   */
  async evaluateCertificate(m: EntityManager, certificateId: string): Promise<PolicyViolationDto[]> {
    const facts = await this.repo.certificateFacts(m, certificateId);
    if (!facts) throw notFound('certificate', certificateId);
    const findings: ViolationWrite[] = [];
    if (!facts.archived) {
      for (const rule of await this.repo.enabledRules(m)) {
        const message = compilePolicyRule(rule)?.(facts);
        if (message !== undefined) {
          findings.push({ certificate_id: certificateId, rule_id: rule.id, message, severity: rule.severity });
        }
      }
    }
    await this.repo.replaceCertificateViolations(m, certificateId, findings);
    return (await this.repo.violationsOfCertificate(m, certificateId)).map(PolicyViolationDto.from);
  }

  /**
   * Re-evaluates all live (non-archived) certificates against one rule; a missing or
   * disabled rule has its violations cleared. Resolves when a pass that started after this
   * call has finished.
   */
  evaluateRule(ruleId: string): Promise<void> {
    const chain = this.chains.get(ruleId);
    if (chain?.queued) return chain.queued;
    const start = async () => {
      const current = this.chains.get(ruleId);
      if (current?.queued === run) current.queued = undefined;
      await this.pass(ruleId);
    };
    const run: Promise<void> = (chain?.tail ?? Promise.resolve()).then(start, start);
    const entry = chain ?? { tail: run };
    entry.tail = run;
    entry.queued = run;
    this.chains.set(ruleId, entry);
    void run
      .finally(() => {
        if (this.chains.get(ruleId)?.tail === run) this.chains.delete(ruleId);
      })
      .catch(() => undefined);
    return run;
  }

  /** Starts `evaluateRule` without waiting; failures are logged (the next write retries). */
  schedule(ruleId: string): void {
    this.evaluateRule(ruleId).catch((e: unknown) =>
      this.logger.error(`policy rule ${ruleId}: evaluation failed: ${(e as Error).message}`, (e as Error).stack),
    );
  }

  /** Lets running passes stop at the next batch boundary before the database closes. */
  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.chains.values()].map((c) => c.tail));
  }

  private async pass(ruleId: string): Promise<void> {
    const rule = await this.repo.findById(ruleId);
    if (!rule || !rule.enabled) {
      if (rule) await this.repo.transaction((m) => this.repo.deleteRuleViolations(m, ruleId));
      return;
    }
    const check = compilePolicyRule(rule);
    if (!check) {
      this.logger.error(`policy rule ${ruleId}: stored config no longer validates; its violations are cleared`);
      await this.repo.transaction((m) => this.repo.deleteRuleViolations(m, ruleId));
      return;
    }
    const version = ruleVersion(rule);
    let after = '';
    let certificates = 0;
    let violations = 0;
    for (;;) {
      if (this.stopping) return;
      const batch = await this.batchWithRetry(ruleId, version, check, after);
      if (!batch) return; // the rule changed, was disabled or deleted: a newer pass (if any) owns it
      certificates += batch.seen;
      violations += batch.violations;
      if (batch.last === undefined) break;
      after = batch.last;
    }
    await this.repo.deleteRuleViolationsOfArchived(ruleId);
    this.logger.log(`policy rule ${ruleId}: evaluated ${certificates} certificates, ${violations} violations`);
  }

  /**
   * One batch in its own transaction, retried on deadlock. The rule row is share-locked
   * first, so a concurrent update or disable of the rule waits for the batch (or the batch
   * for it) and this pass never writes findings for a rule version that is gone; severity
   * is read fresh. Undefined when the pass should stop.
   */
  private async batchWithRetry(
    ruleId: string,
    version: string,
    check: RuleCheck,
    after: string,
  ): Promise<{ seen: number; violations: number; last?: string } | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.repo.transaction(async (m) => {
          const rule = await this.repo.lockRuleShared(m, ruleId);
          if (!rule || !rule.enabled || ruleVersion(rule) !== version) return undefined;
          const certs = await this.repo.liveCertificateBatch(m, after, EVALUATION_BATCH_SIZE);
          const findings: ViolationWrite[] = [];
          for (const c of certs) {
            const message = check(c);
            if (message !== undefined) {
              findings.push({ certificate_id: c.id, rule_id: ruleId, message, severity: rule.severity });
            }
          }
          await this.repo.replaceRuleViolations(
            m,
            ruleId,
            certs.map((c) => c.id),
            findings,
          );
          return {
            seen: certs.length,
            violations: findings.length,
            last: certs.length === EVALUATION_BATCH_SIZE ? certs[certs.length - 1].id : undefined,
          };
        });
      } catch (e) {
        const code = pgCode(e);
        if ((code === PG_DEADLOCK || code === PG_SERIALIZATION_FAILURE) && attempt < 3) continue;
        throw e;
      }
    }
  }
}
