import { Global, Module } from '@nestjs/common';
import { MetricsService } from './metrics.service';

/** The app's Prometheus registry, injectable everywhere (contexts add their own metrics). */
@Global()
@Module({ providers: [MetricsService], exports: [MetricsService] })
export class MetricsModule {}
