import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfig } from './config.schema';

/** Provides the validated configuration (read once, before the app is built) everywhere. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: AppConfig, useValue: config }], exports: [AppConfig] };
  }
}
