import { ConfigError, loadConfig } from '../config/config.schema';
import { formatDuration } from './job-engine.repository';

describe('job timeouts', () => {
  it('reads CERTCTL_JOB_RUNNING_TIMEOUT (default 1h) and refuses nonsense naming the variable', () => {
    expect(loadConfig({}).jobs.runningTimeoutMs).toBe(3_600_000);
    expect(loadConfig({ CERTCTL_JOB_RUNNING_TIMEOUT: '2h30m' }).jobs.runningTimeoutMs).toBe(9_000_000);
    expect(() => loadConfig({ CERTCTL_JOB_RUNNING_TIMEOUT: 'soon' })).toThrow(ConfigError);
    expect(() => loadConfig({ CERTCTL_JOB_RUNNING_TIMEOUT: '10ms' })).toThrow(/CERTCTL_JOB_RUNNING_TIMEOUT/);
  });

  it('writes durations the way the configuration takes them (for last_error)', () => {
    expect(formatDuration(3_600_000)).toBe('1h');
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(86_400_000 + 1500)).toBe('1d1s500ms');
    expect(formatDuration(0)).toBe('0ms');
  });
});
