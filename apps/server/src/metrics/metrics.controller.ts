import { Controller, Get, Header } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { RequirePermission } from '../auth/access-policy.decorator';
import { MetricsService } from './metrics.service';

@ApiTags('metrics')
@Controller('api/v1/metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get('prometheus')
  @RequirePermission('metrics.read')
  @Header('Cache-Control', 'no-store')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ operationId: 'getPrometheusMetrics', summary: 'Metrics in the Prometheus text format' })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus exposition format 0.0.4', schema: { type: 'string' } })
  async prometheus(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
