import type { Logger } from 'pino';

/**
 * Runs with the job workers: picks up committed events and hands them on (webhook deliveries),
 * a batch at a time, straight away while there is a backlog and every `intervalMs` otherwise.
 * Events wait in their table while no dispatcher runs, so none is lost across a restart.
 */
export function startEventDispatcher(deps: {
  dispatch: () => Promise<number>;
  intervalMs: number;
  logger: Logger;
}): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;

  const tick = () => {
    timer = null;
    running = deps
      .dispatch()
      .then(
        (taken) => taken,
        (error: unknown) => {
          deps.logger.error({ err: error }, 'event dispatch failed');
          return 0;
        },
      )
      .then((taken) => {
        running = null;
        if (stopped) return;
        timer = setTimeout(tick, taken > 0 ? 0 : deps.intervalMs);
      });
  };
  timer = setTimeout(tick, 0);

  return {
    async stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      await running;
    },
  };
}
