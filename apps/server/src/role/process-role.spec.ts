import { configProblems } from '../config/config-testing';
import { loadConfig } from '../config/config.schema';
import { runsBackgroundWork, servesApi } from './process-role';

describe('CERTCTL_ROLE', () => {
  it('defaults to all', () => {
    expect(loadConfig({}).role).toBe('all');
    expect(loadConfig({ CERTCTL_ROLE: '' }).role).toBe('all');
  });

  it('accepts api, worker and all, case-insensitively', () => {
    expect(loadConfig({ CERTCTL_ROLE: 'api' }).role).toBe('api');
    expect(loadConfig({ CERTCTL_ROLE: ' Worker ' }).role).toBe('worker');
    expect(loadConfig({ CERTCTL_ROLE: 'ALL' }).role).toBe('all');
  });

  it('rejects anything else, naming the variable and the allowed values', () => {
    for (const bad of ['workers', 'scheduler', 'api,worker']) {
      expect(configProblems({ CERTCTL_ROLE: bad })).toEqual(['CERTCTL_ROLE must be one of all, api, worker']);
    }
  });

  it('splits the work: api serves, worker runs queues and loops, all does both', () => {
    expect([servesApi('all'), runsBackgroundWork('all')]).toEqual([true, true]);
    expect([servesApi('api'), runsBackgroundWork('api')]).toEqual([true, false]);
    expect([servesApi('worker'), runsBackgroundWork('worker')]).toEqual([false, true]);
  });
});
