import { Type } from 'typebox';
import { DateTime, Ok } from '../../http/schemas.ts';

const MemoryUsage = Type.Object({
  rss: Type.Integer(),
  heapTotal: Type.Integer(),
  heapUsed: Type.Integer(),
  external: Type.Integer(),
});
const CpuUsage = Type.Object({
  user: Type.Integer({ description: 'microseconds' }),
  system: Type.Integer({ description: 'microseconds' }),
});

export const HealthReply = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy')]),
  timestamp: DateTime,
  uptime: Type.Number({ description: 'seconds' }),
  version: Type.String(),
  environment: Type.String(),
  database: Type.Union([Type.Literal('connected'), Type.Literal('disconnected')]),
  reason: Type.Optional(Type.String()),
  simulator: Type.Optional(
    Type.Object({
      initialized: Type.Boolean({ description: 'The simulator runs in this process' }),
      activeSimulations: Type.Union([Type.Integer(), Type.Null()], {
        description: 'QR codes being simulated',
      }),
    }),
  ),
  memoryUsage: MemoryUsage,
  cpuUsage: CpuUsage,
});

export const StatusReply = Ok(
  Type.Object({
    version: Type.String(),
    environment: Type.String(),
    database: Type.Object({
      status: Type.Union([Type.Literal('connected'), Type.Literal('disconnected')]),
      latencyMs: Type.Union([Type.Number(), Type.Null()]),
      serverVersion: Type.Union([Type.String(), Type.Null()]),
      reason: Type.Optional(Type.String()),
    }),
    pool: Type.Object({
      total: Type.Integer(),
      idle: Type.Integer(),
      waiting: Type.Integer(),
      max: Type.Integer(),
    }),
    migrations: Type.Object({ applied: Type.Array(Type.String()), pending: Type.Array(Type.String()) }),
    process: Type.Object({
      pid: Type.Integer(),
      nodeVersion: Type.String(),
      uptimeSec: Type.Integer(),
      memoryUsage: MemoryUsage,
      cpuUsage: CpuUsage,
    }),
  }),
);
