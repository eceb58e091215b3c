import { Injectable } from '@nestjs/common';

export interface LoopDefinition {
  /** Kebab-case name (LoopName in libs/domain, or a test's own). */
  name: string;
  everyMs: number;
  /**
   * Upper bound of one tick. While a tick holds its lock no other replica starts the same
   * loop; a crashed holder releases it after this long.
   */
  maxRunMs: number;
  run: () => Promise<void>;
}

/**
 * Where bounded contexts declare their periodic loops (in onModuleInit); the scheduler
 * turns each into a BullMQ job scheduler at bootstrap.
 */
@Injectable()
export class LoopRegistry {
  private readonly loops = new Map<string, LoopDefinition>();

  register(loop: LoopDefinition): void {
    if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(loop.name)) throw new Error(`loop name ${loop.name} must be kebab-case`);
    if (this.loops.has(loop.name)) throw new Error(`loop ${loop.name} is registered twice`);
    if (loop.everyMs < 100 || loop.maxRunMs < 100) throw new Error(`loop ${loop.name}: intervals must be >= 100 ms`);
    this.loops.set(loop.name, loop);
  }

  get(name: string): LoopDefinition | undefined {
    return this.loops.get(name);
  }

  all(): LoopDefinition[] {
    return [...this.loops.values()];
  }
}
