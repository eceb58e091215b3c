import { BullModule } from '@nestjs/bullmq';
import { DynamicModule, MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LoggerModule } from 'nestjs-pino';
import type { IncomingMessage } from 'node:http';
import { buildDataSourceOptions } from '../../../migrations/data-source';
import { ApiAuditMiddleware } from './audit/api-audit.middleware';
import { AuditModule } from './audit/audit.module';
import { AuditEventEntity } from './audit/audit-event.entity';
import { bearerToken, hashApiKey } from './auth/api-key';
import { ApiKeyEntity, RoleEntity } from './auth/auth.entities';
import { AuthGuard } from './auth/auth.guard';
import { AuthModule } from './auth/auth.module';
import { ConfigModule } from './config/config.module';
import { AppConfig } from './config/config.schema';
import { HealthController } from './health/health.controller';
import { BodyMiddleware } from './http/body.middleware';
import { CorsMiddleware } from './http/cors.middleware';
import type { CertctlRequest } from './http/request-context';
import { HttpMetricsMiddleware } from './metrics/http-metrics.middleware';
import { MetricsController } from './metrics/metrics.controller';
import { MetricsModule } from './metrics/metrics.module';
import { DEFAULT_JOB_OPTIONS } from './queue/queue-defaults';
import { redisRetryStrategy } from './redis/redis-options';
import { RedisModule } from './redis/redis.module';
import { RedisService } from './redis/redis.service';
import { runsBackgroundWork } from './role/process-role';
import { RedisThrottlerStorage } from './throttle/redis-throttler.storage';
import { SecretsModule } from './secrets/secrets.module';
import { TeamsModule } from './teams/teams.module';
import { JobsModule } from './jobs/jobs.module';
import { SchedulerModule } from './scheduler/scheduler.module';
import { OwnersModule } from './owners/owners.module';
import { NotificationsModule } from './notifications/notifications.module';
import { IssuersModule } from './issuers/issuers.module';
import { TargetsModule } from './targets/targets.module';
import { AgentsModule } from './agents/agents.module';
import { ProfilesModule } from './profiles/profiles.module';
import { RenewalPoliciesModule } from './renewal-policies/renewal-policies.module';
import { PoliciesModule } from './policies/policies.module';
import { CertificatesModule } from './certificates/certificates.module';
import { StatsModule } from './stats/stats.module';
import { RenewalModule } from './renewal/renewal.module';
import { IssuanceModule } from './issuance/issuance.module';
import { ApprovalsModule } from './approvals/approvals.module';
import { PkiEndpointsModule } from './pki-endpoints/pki-endpoints.module';
import { IntermediatesModule } from './intermediates/intermediates.module';
import { AgentWorkModule } from './agent-work/agent-work.module';
import { DiscoveryModule } from './discovery/discovery.module';
import { VerificationModule } from './verification/verification.module';
import { EnrollmentModule } from './enrollment/enrollment.module';
import { EstModule } from './est/est.module';
import { ScepModule } from './scep/scep.module';
import { AcmeModule } from './acme/acme.module';
import { VersionController } from './version/version.controller';

const ENTITIES = [AuditEventEntity, ApiKeyEntity, RoleEntity];

/** Per-credential buckets key on a hash of the presented bearer token (no DB lookup). */
function userTracker(req: Record<string, unknown>): string {
  const token = bearerToken((req as unknown as CertctlRequest).headers.authorization);
  return token ? hashApiKey(token).slice(0, 32) : 'anonymous';
}

function hasBearer(req: CertctlRequest): boolean {
  return bearerToken(req.headers.authorization) !== undefined;
}

@Module({})
export class AppModule implements NestModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        MetricsModule,
        LoggerModule.forRootAsync({
          inject: [AppConfig],
          useFactory: (c: AppConfig) => ({
            pinoHttp: {
              level: c.logLevel,
              genReqId: (req: IncomingMessage) => (req as CertctlRequest).id,
              customProps: (req: IncomingMessage) => ({ request_id: (req as CertctlRequest).id }),
              redact: ['req.headers.authorization', 'req.headers.cookie'],
              autoLogging: { ignore: (req: IncomingMessage) => req.url === '/health' || req.url === '/ready' },
            },
          }),
        }),
        TypeOrmModule.forRootAsync({
          inject: [AppConfig],
          useFactory: (c: AppConfig) => ({
            ...buildDataSourceOptions(c.database.url, {
              maxConnections: c.database.maxConnections,
              entities: ENTITIES,
            }),
            // Feature modules register their own entities with TypeOrmModule.forFeature.
            autoLoadEntities: true,
            retryAttempts: 5,
            retryDelay: 2_000,
          }),
        }),
        RedisModule,
        BullModule.forRootAsync({
          inject: [AppConfig],
          useFactory: (c: AppConfig) => ({
            connection: {
              url: c.redis.url,
              maxRetriesPerRequest: null,
              retryStrategy: redisRetryStrategy,
            },
            prefix: `${c.redis.prefix}:bull`,
            defaultJobOptions: DEFAULT_JOB_OPTIONS,
          }),
          // The one switch for every @Processor: an api replica creates no BullMQ worker at all.
          extraOptions: { manualRegistration: !runsBackgroundWork(config.role) },
        }),
        ThrottlerModule.forRootAsync({
          inject: [AppConfig, RedisService],
          useFactory: (c: AppConfig, redis: RedisService) => ({
            storage: new RedisThrottlerStorage(redis),
            skipIf: () => !c.rateLimit.enabled,
            errorMessage: 'rate limit exceeded; retry after the Retry-After interval',
            throttlers: [
              // Per source address: a burst per second and a sustained rate per minute.
              { name: 'ip-burst', ttl: 1_000, limit: c.rateLimit.burst },
              { name: 'ip-sustained', ttl: 60_000, limit: c.rateLimit.rps * 60 },
              // Per credential, so one busy client cannot starve others behind the same NAT.
              {
                name: 'user-burst',
                ttl: 1_000,
                limit: c.rateLimit.perUserBurst,
                getTracker: userTracker,
                // A per-throttler skipIf replaces the module-wide one, so repeat the switch.
                skipIf: (ctx) => !c.rateLimit.enabled || !hasBearer(ctx.switchToHttp().getRequest<CertctlRequest>()),
              },
              {
                name: 'user-sustained',
                ttl: 60_000,
                limit: c.rateLimit.perUserRps * 60,
                getTracker: userTracker,
                skipIf: (ctx) => !c.rateLimit.enabled || !hasBearer(ctx.switchToHttp().getRequest<CertctlRequest>()),
              },
            ],
          }),
        }),
        SecretsModule,
        AuthModule,
        AuditModule,
        TeamsModule,
        SchedulerModule,
        JobsModule,
        OwnersModule,
        NotificationsModule,
        IssuersModule,
        TargetsModule,
        AgentsModule,
        ProfilesModule,
        RenewalPoliciesModule,
        PoliciesModule,
        CertificatesModule,
        IssuanceModule,
        ApprovalsModule,
        PkiEndpointsModule,
        IntermediatesModule,
        AgentWorkModule,
        DiscoveryModule,
        VerificationModule,
        EnrollmentModule,
        EstModule,
        ScepModule,
        AcmeModule,
        StatsModule,
        RenewalModule,
      ],
      controllers: [HealthController, VersionController, MetricsController],
      providers: [
        HttpMetricsMiddleware,
        BodyMiddleware,
        CorsMiddleware,
        // Guard order is the pipeline order: rate limit, then authentication/authorization.
        { provide: APP_GUARD, useClass: ThrottlerGuard },
        { provide: APP_GUARD, useExisting: AuthGuard },
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    // After request id (app.use) and logging (LoggerModule): metrics and the audit hook
    // attach first so they also see requests the body limit or CORS refuse.
    consumer
      .apply(HttpMetricsMiddleware, ApiAuditMiddleware, BodyMiddleware, CorsMiddleware)
      .forRoutes({ path: '{*splat}', method: RequestMethod.ALL });
  }
}
