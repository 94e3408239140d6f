import { Logger } from 'graphile-worker';
import type { Logger as PinoLogger } from 'pino';

/** graphile-worker's messages, through the application's logger (its debug chatter at debug). */
export function jobLogger(logger: PinoLogger): Logger {
  return new Logger((scope) => (level, message, meta) => {
    const context = { ...scope, ...meta, component: 'jobs' };
    if (level === 'error') logger.error(context, message);
    else if (level === 'warning') logger.warn(context, message);
    else if (level === 'info') logger.info(context, message);
    else logger.debug(context, message);
  });
}

/** For migrations run by tools and tests, which have no logger of their own. */
export const silentJobLogger = new Logger(() => () => {});
