import { type Logger, pino } from 'pino';
import type { Config } from './config.ts';

/** One JSON logger for the process: start-up, requests (Fastify's child loggers) and shutdown. */
export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({
    level: config.logLevel,
    redact: ['req.headers.authorization', 'req.headers["x-client-secret"]'],
  });
}
