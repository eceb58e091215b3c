import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config/agent-config';

/**
 * JSON lines on stdout (pino). Also Nest's logger for the application context, whose
 * bootstrap chatter goes to debug.
 */
export class AgentLogger implements LoggerService {
  readonly pino: Logger;

  constructor(level: LogLevel, base: Record<string, unknown> = {}, destination?: pino.DestinationStream) {
    this.pino = pino({ level, base: { app: 'certctl-agent', ...base } }, destination ?? pino.destination(1));
  }

  info(msg: string, fields: Record<string, unknown> = {}): void {
    this.pino.info(fields, msg);
  }
  warn(msg: string, fields: Record<string, unknown> = {}): void {
    this.pino.warn(fields, msg);
  }
  error(msg: string, fields: unknown = {}): void {
    this.pino.error(typeof fields === 'object' && fields !== null ? fields : { detail: fields }, msg);
  }
  debug(msg: string, fields: Record<string, unknown> = {}): void {
    this.pino.debug(fields, msg);
  }

  // Nest's LoggerService
  log(message: unknown, context?: unknown): void {
    this.pino.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: unknown): void {
    this.pino.trace({ context }, String(message));
  }
  fatal(message: unknown, context?: unknown): void {
    this.pino.fatal({ context }, String(message));
  }
}

/** The message of anything thrown, with the cause of fetch's "fetch failed". */
export function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as Error & { cause?: unknown }).cause;
  return cause instanceof Error ? `${e.message}: ${cause.message}` : e.message;
}
