import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AgentModule } from './agent.module';
import { AgentConfigError, loadAgentConfig } from './config/agent-config';
import { AgentLogger } from './logging/agent-logger';
import { AgentRunner } from './runner/agent-runner';

async function main(): Promise<void> {
  let config;
  try {
    config = loadAgentConfig({ ...process.env });
  } catch (e) {
    if (e instanceof AgentConfigError) {
      process.stderr.write(`certctl-agent: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = new AgentLogger(config.logLevel);
  const app = await NestFactory.createApplicationContext(AgentModule.forRoot(config, logger), {
    logger,
    abortOnError: false,
  });
  const runner = app.get(AgentRunner);
  const onSignal = (signal: NodeJS.Signals) => runner.requestStop(signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const code = await runner.run();
  await app.close();
  process.exit(code);
}

main().catch((e: unknown) => {
  process.stderr.write(`certctl-agent: fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
