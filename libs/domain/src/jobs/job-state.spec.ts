import { assertTransition, canTransition, isTerminal, JOB_TRANSITIONS, sourcesOf } from './job-state';
import { JobStatus } from '../inventory/enums';

describe('job status machine', () => {
  it('lets only Pending become Running by claim, and AwaitingCSR once the CSR arrives', () => {
    expect(sourcesOf('Running').sort()).toEqual(['AwaitingCSR', 'Pending']);
  });

  it('never lets an approval-gated or cancelled job run', () => {
    expect(canTransition('AwaitingApproval', 'Running')).toBe(false);
    expect(canTransition('Cancelled', 'Pending')).toBe(false);
    expect(canTransition('Cancelled', 'Running')).toBe(false);
  });

  it('knows the terminal states and names both ends of an illegal move', () => {
    expect(Object.values(JobStatus).filter(isTerminal).sort()).toEqual(['Cancelled', 'Completed']);
    expect(() => assertTransition('Completed', 'Pending')).toThrow('a job cannot go from Completed to Pending');
    expect(() => assertTransition('Failed', 'Pending')).not.toThrow();
  });

  it('covers every status', () => {
    expect(Object.keys(JOB_TRANSITIONS).sort()).toEqual(Object.values(JobStatus).sort());
  });
});
