import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { Public } from '../auth/access-policy.decorator';
import { RedisService, withTimeout } from '../redis/redis.service';

const CHECK_TIMEOUT_MS = 2_000;

export class HealthDto {
  @ApiProperty({ example: 'ok' }) status!: string;
}

export class ReadinessDto {
  @ApiProperty({ example: 'ready', enum: ['ready', 'unavailable'] }) status!: string;
  @ApiProperty({ example: { postgres: 'up', redis: 'up' } }) checks!: Record<string, string>;
  @ApiProperty({ required: false, example: 'redis is down' }) message?: string;
}

@ApiTags('health')
// Probes are not API traffic: kubelets and load balancers must never be rate limited.
@SkipThrottle()
@Controller()
export class HealthController {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly redis: RedisService,
  ) {}

  @Get('health')
  @Public()
  @ApiOperation({ operationId: 'getHealth', summary: 'Liveness: the process is serving' })
  @ApiOkResponse({ type: HealthDto })
  health(): HealthDto {
    return { status: 'ok' };
  }

  @Get('ready')
  @Public()
  @ApiOperation({ operationId: 'getReady', summary: 'Readiness: Postgres and Redis answer' })
  @ApiOkResponse({ type: ReadinessDto })
  @ApiServiceUnavailableResponse({ type: ReadinessDto })
  async ready(@Res({ passthrough: true }) res: Response): Promise<ReadinessDto> {
    const [pg, redis] = await Promise.allSettled([
      withTimeout(this.ds.query('SELECT 1'), CHECK_TIMEOUT_MS, 'SELECT 1'),
      this.redis.ping(CHECK_TIMEOUT_MS),
    ]);
    const checks: Record<string, string> = {
      postgres: pg.status === 'fulfilled' ? 'up' : `down: ${(pg.reason as Error).message}`,
      redis: redis.status === 'fulfilled' ? 'up' : `down: ${(redis.reason as Error).message}`,
    };
    const down = Object.keys(checks).filter((k) => checks[k] !== 'up');
    res.setHeader('Cache-Control', 'no-store');
    if (down.length === 0) return { status: 'ready', checks };
    res.status(HttpStatus.SERVICE_UNAVAILABLE);
    return { status: 'unavailable', checks, message: `${down.join(' and ')} ${down.length > 1 ? 'are' : 'is'} down` };
  }
}
