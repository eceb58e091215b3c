import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { AppConfig } from '../config/config.schema';
import { redisOptionsFromUrl } from './redis-options';

/**
 * The server's own Redis connection (rate-limit buckets, readiness). Commands fail fast
 * while Redis is away instead of queueing, so callers can degrade instead of hanging.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  readonly client: Redis;
  readonly prefix: string;
  private lastError = '';

  constructor(config: AppConfig) {
    this.prefix = config.redis.prefix;
    this.client = new Redis({
      ...redisOptionsFromUrl(config.redis.url),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 3_000,
      lazyConnect: false,
    });
    this.client.on('error', (err: Error) => {
      if (err.message !== this.lastError) this.logger.warn(`redis: ${err.message}`);
      this.lastError = err.message;
    });
    this.client.on('ready', () => {
      if (this.lastError) this.logger.log('redis: connection restored');
      this.lastError = '';
    });
  }

  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  async ping(timeoutMs: number): Promise<void> {
    if (this.client.status !== 'ready') throw new Error(`connection ${this.client.status}`);
    await withTimeout(this.client.ping(), timeoutMs, 'PING');
  }

  async onApplicationShutdown(): Promise<void> {
    this.client.disconnect();
  }
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
