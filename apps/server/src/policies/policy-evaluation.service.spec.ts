import type { EntityManager } from 'typeorm';
import type { PolicyRuleType, Severity } from '@certctl/domain';
import type { CertificateFactsRow, PoliciesRepository, ViolationWrite } from './policies.repository';
import { EVALUATION_BATCH_SIZE, PolicyEvaluationService } from './policy-evaluation.service';
import type { PolicyRuleEntity } from './policy.entity';

interface Rule {
  id: string;
  type: PolicyRuleType;
  config: Record<string, unknown>;
  severity: Severity;
  enabled: boolean;
}

const cert = (i: number, owner: string | null): CertificateFactsRow => ({
  id: `mc-${String(i).padStart(5, '0')}`,
  archived: false,
  common_name: `h${i}.example.com`,
  sans: [],
  environment: '',
  owner_id: owner,
  issuer_id: null,
  tags: {},
  key: null,
  validity: null,
});

/** An in-memory stand-in for the repository: rules, live certificates and recorded writes. */
class FakeRepo {
  rule: Rule | null = { id: 'pol-1', type: 'OwnerRequired', config: {}, severity: 'warning', enabled: true };
  certs: CertificateFactsRow[] = [];
  writes: { ruleId: string; certificateIds: readonly string[]; findings: readonly ViolationWrite[] }[] = [];
  cleared: string[] = [];
  passesStarted = 0;
  /** Called before each batch's certificate read; lets a test act mid-pass. */
  onBatch: (n: number) => Promise<void> | void = () => undefined;
  failNextWith: { code: string } | undefined;
  private batches = 0;

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    if (this.failNextWith) {
      const e = this.failNextWith;
      this.failNextWith = undefined;
      return Promise.reject(Object.assign(new Error('pg'), { driverError: e }));
    }
    return work({} as EntityManager);
  }
  async findById(): Promise<PolicyRuleEntity | null> {
    this.passesStarted += 1;
    return this.rule && ({ ...this.rule } as unknown as PolicyRuleEntity);
  }
  async lockRuleShared(): Promise<PolicyRuleEntity | null> {
    return this.rule && ({ ...this.rule } as unknown as PolicyRuleEntity);
  }
  async liveCertificateBatch(_m: EntityManager, after: string, limit: number): Promise<CertificateFactsRow[]> {
    await this.onBatch(this.batches++);
    return this.certs.filter((c) => c.id > after).slice(0, limit);
  }
  async replaceRuleViolations(
    _m: EntityManager,
    ruleId: string,
    certificateIds: readonly string[],
    findings: readonly ViolationWrite[],
  ): Promise<void> {
    this.writes.push({ ruleId, certificateIds, findings });
  }
  async deleteRuleViolations(_m: EntityManager, ruleId: string): Promise<void> {
    this.cleared.push(ruleId);
  }
  async deleteRuleViolationsOfArchived(): Promise<void> {}
}

const setup = () => {
  const repo = new FakeRepo();
  const svc = new PolicyEvaluationService(repo as unknown as PoliciesRepository);
  // Silence the pass summary logs.
  (svc as unknown as { logger: { log: () => void; error: () => void } }).logger = { log: () => {}, error: () => {} };
  return { repo, svc };
};

describe('PolicyEvaluationService.evaluateRule', () => {
  it('walks every live certificate in keyset batches and records findings with the rule severity', async () => {
    const { repo, svc } = setup();
    repo.certs = Array.from({ length: EVALUATION_BATCH_SIZE * 2 + 7 }, (_, i) => cert(i, i % 3 === 0 ? null : 'o-1'));
    await svc.evaluateRule('pol-1');
    expect(repo.writes.map((w) => w.certificateIds.length)).toEqual([EVALUATION_BATCH_SIZE, EVALUATION_BATCH_SIZE, 7]);
    const findings = repo.writes.flatMap((w) => w.findings);
    expect(findings).toHaveLength(Math.ceil(repo.certs.length / 3));
    expect(findings[0]).toEqual({
      certificate_id: 'mc-00000',
      rule_id: 'pol-1',
      message: 'certificate has no owner',
      severity: 'warning',
    });
    // Batches do not overlap.
    const ids = repo.writes.flatMap((w) => w.certificateIds);
    expect(new Set(ids).size).toBe(repo.certs.length);
  });

  it('coalesces requests made during a pass into one follow-up pass', async () => {
    const { repo, svc } = setup();
    repo.certs = [cert(1, null)];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    repo.onBatch = (n) => (n === 0 ? gate : undefined);
    const first = svc.evaluateRule('pol-1');
    await new Promise((r) => setImmediate(r));
    const second = svc.evaluateRule('pol-1');
    const third = svc.evaluateRule('pol-1');
    expect(third).toBe(second);
    release();
    await Promise.all([first, second, third]);
    expect(repo.passesStarted).toBe(2);
    // A request after everything settled starts a fresh pass.
    await svc.evaluateRule('pol-1');
    expect(repo.passesStarted).toBe(3);
  });

  it('clears a disabled rule instead of evaluating it, and ignores a deleted one', async () => {
    const { repo, svc } = setup();
    repo.certs = [cert(1, null)];
    repo.rule!.enabled = false;
    await svc.evaluateRule('pol-1');
    expect(repo.cleared).toEqual(['pol-1']);
    expect(repo.writes).toEqual([]);
    repo.rule = null;
    await svc.evaluateRule('pol-1');
    expect(repo.writes).toEqual([]);
  });

  it('stops writing once the rule changes, is disabled or deleted mid-pass', async () => {
    for (const change of [
      (r: FakeRepo) => (r.rule!.config = { strict: true }),
      (r: FakeRepo) => (r.rule!.type = 'ForbiddenWildcard'),
      (r: FakeRepo) => (r.rule!.enabled = false),
      (r: FakeRepo) => (r.rule = null),
    ]) {
      const { repo, svc } = setup();
      repo.certs = Array.from({ length: EVALUATION_BATCH_SIZE * 3 }, (_, i) => cert(i, null));
      // The change lands after the first batch took its lock; the second batch sees it.
      repo.onBatch = (n) => {
        if (n === 0) change(repo);
      };
      await svc.evaluateRule('pol-1');
      expect(repo.writes).toHaveLength(1);
    }
  });

  it('uses the severity current at each batch', async () => {
    const { repo, svc } = setup();
    repo.certs = Array.from({ length: EVALUATION_BATCH_SIZE + 1 }, (_, i) => cert(i, null));
    repo.onBatch = (n) => {
      if (n === 0) repo.rule!.severity = 'critical';
    };
    await svc.evaluateRule('pol-1');
    expect(repo.writes.map((w) => w.findings[0].severity)).toEqual(['warning', 'critical']);
  });

  it('retries a batch that lost a deadlock, and rejects on other errors', async () => {
    const { repo, svc } = setup();
    repo.certs = [cert(1, null)];
    const findById = repo.findById.bind(repo);
    repo.findById = async () => {
      const r = await findById();
      repo.failNextWith = { code: '40P01' };
      return r;
    };
    await svc.evaluateRule('pol-1');
    expect(repo.writes).toHaveLength(1);

    repo.findById = async () => {
      const r = await findById();
      repo.failNextWith = { code: '22001' };
      return r;
    };
    await expect(svc.evaluateRule('pol-1')).rejects.toThrow('pg');
  });

  it('lets a running pass stop at the next batch when the module is destroyed', async () => {
    const { repo, svc } = setup();
    repo.certs = Array.from({ length: EVALUATION_BATCH_SIZE * 4 }, (_, i) => cert(i, null));
    let destroyed: Promise<void> | undefined;
    repo.onBatch = (n) => {
      if (n === 1) destroyed = svc.onModuleDestroy();
    };
    await svc.evaluateRule('pol-1');
    await destroyed;
    expect(repo.writes).toHaveLength(2);
  });
});
