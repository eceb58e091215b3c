import { Module } from '@nestjs/common';
import { MetricsSnapshotController, StatsController } from './stats.controller';
import { StatsRepository } from './stats.repository';
import { StatsService } from './stats.service';

/** Bounded context `stats`: dashboard aggregates and the JSON metrics snapshot (read-only SQL). */
@Module({
  controllers: [StatsController, MetricsSnapshotController],
  providers: [StatsRepository, StatsService],
})
export class StatsModule {}
