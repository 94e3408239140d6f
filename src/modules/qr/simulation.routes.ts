import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requirePrincipal } from '../../http/principal.ts';
import { replies } from '../../http/schemas.ts';
import { QrIdParams, SimulationReply, SimulationStatusReply, SimulationStopAllReply } from './schemas.ts';
import type { SimulationService } from './simulator.ts';

const ACCESS = { access: ['merchant', 'admin'] as const };
const TAGS = ['simulation'];
const MESSAGES = { start: 'Simulation started', stop: 'Simulation stopped' };

export const simulationRoutes: FastifyPluginAsyncTypebox<{ simulations: SimulationService }> = async (
  app,
  { simulations },
) => {
  for (const action of ['toggle', 'start', 'stop'] as const) {
    app.post(
      `/simulation/:qrId/${action}`,
      {
        config: { ...ACCESS, idempotency: 'none' as const },
        schema: {
          tags: TAGS,
          summary: `${action[0]?.toUpperCase()}${action.slice(1)} the background payment simulation of a QR code`,
          params: QrIdParams,
          response: replies({ 200: SimulationReply }),
        },
      },
      async (request) => {
        const simulation = await simulations.change(
          requirePrincipal(request.principal),
          request.params.qrId,
          action,
        );
        return {
          success: true as const,
          data: { simulation },
          message: simulation.simulationActive ? MESSAGES.start : MESSAGES.stop,
        };
      },
    );
  }

  app.get(
    '/simulation/status',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: "The caller's simulations (an admin: all), active or having generated payments",
        response: replies({ 200: SimulationStatusReply }),
      },
    },
    async (request) => {
      const data = await simulations.status(requirePrincipal(request.principal));
      return { success: true as const, data };
    },
  );

  app.post(
    '/simulation/stop-all',
    {
      config: { ...ACCESS, idempotency: 'none' as const },
      schema: {
        tags: TAGS,
        summary: "Stop the caller's simulations (an admin's call stops every one)",
        response: replies({ 200: SimulationStopAllReply }),
      },
    },
    async (request) => {
      const stopped = await simulations.stopAll(requirePrincipal(request.principal));
      return {
        success: true as const,
        data: { stopped: stopped.length },
        message: `${stopped.length} simulations stopped`,
      };
    },
  );
};
