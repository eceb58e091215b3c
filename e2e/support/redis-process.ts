import { spawn, type ChildProcess } from 'node:child_process';
import { onCleanup, tempDir } from './server-process';
import { tail } from './util';

/** A private, throw-away redis-server on a loopback port (no persistence), for outage tests. */
export class RedisProcess {
  private child?: ChildProcess;
  private log = '';

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(port: number): Promise<RedisProcess> {
    const r = new RedisProcess(port, await tempDir('certctl-e2e-redis-'));
    onCleanup(() => r.kill());
    await r.restart();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (again) on the same port; resolves once it accepts connections (bounded). */
  async restart(timeoutMs = 10_000): Promise<void> {
    if (this.running()) throw new Error('redis-server is already running');
    this.log = '';
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
    );
    this.child = child;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (this.log += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.log += d));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs);
      const onData = () => {
        if (this.log.includes('Ready to accept connections')) done();
      };
      const onExit = (code: number | null) => fail(`exited with code ${code}`);
      const off = () => {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.off('exit', onExit);
      };
      const done = () => {
        off();
        resolve();
      };
      const fail = (why: string) => {
        off();
        child.kill('SIGKILL');
        reject(new Error(`redis-server on port ${this.port} ${why}:\n${tail(this.log)}`));
      };
      child.stdout.on('data', onData);
      child.once('exit', onExit);
    });
  }

  running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Abrupt outage: SIGKILL, resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running()) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await gone;
  }
}
