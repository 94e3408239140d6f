import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type FieldProblem } from './errors.ts';
import { IdempotentReplay } from './idempotency.ts';

interface ErrorBody {
  readonly statusCode: number;
  readonly code: string;
  readonly message: string;
  readonly details?: unknown;
}

/** Fastify's own 4xx errors (raised before our handlers run), mapped to our stable codes. */
const FRAMEWORK_ERRORS: Record<string, { statusCode: number; code: string; message?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: {
    statusCode: 413,
    code: 'PAYLOAD_TOO_LARGE',
    message: 'Request body is too large',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { statusCode: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { statusCode: 400, code: 'BAD_REQUEST' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { statusCode: 400, code: 'MALFORMED_JSON', message: 'Request body is empty' },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    statusCode: 400,
    code: 'MALFORMED_JSON',
    message: 'Request body is not valid JSON',
  },
  FST_ERR_BAD_URL: { statusCode: 400, code: 'BAD_REQUEST', message: 'Malformed URL' },
  FST_ERR_ASYNC_CONSTRAINT: { statusCode: 400, code: 'BAD_REQUEST' },
};

export function classifyError(error: FastifyError | AppError | Error, isDevelopment: boolean): ErrorBody {
  if (error instanceof AppError) {
    return { statusCode: error.statusCode, code: error.code, message: error.message, details: error.details };
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation !== undefined) {
    const problems = fieldProblems(fastifyError);
    return {
      statusCode: 400,
      code: 'VALIDATION_FAILED',
      message: `Invalid ${fastifyError.validationContext ?? 'request'}: ${problems
        .map((problem) => `${problem.field} ${problem.message}`)
        .join('; ')}`,
      details: problems,
    };
  }
  const known = fastifyError.code === undefined ? undefined : FRAMEWORK_ERRORS[fastifyError.code];
  if (known !== undefined) return { ...known, message: known.message ?? fastifyError.message };
  if (error instanceof SyntaxError && fastifyError.statusCode === 400) {
    return { statusCode: 400, code: 'MALFORMED_JSON', message: 'Request body is not valid JSON' };
  }
  const statusCode = fastifyError.statusCode ?? 500;
  if (statusCode === 429) return { statusCode, code: 'RATE_LIMITED', message: 'Too many requests' };
  if (statusCode >= 400 && statusCode < 500) {
    return { statusCode, code: 'BAD_REQUEST', message: fastifyError.message };
  }
  return {
    statusCode: 500,
    code: 'INTERNAL_ERROR',
    message: isDevelopment ? `Internal server error: ${error.message}` : 'Internal server error',
  };
}

/**
 * A value that may be null (`T | null`) fails as "must be null" and "must match a schema in
 * anyOf" beside its real problem: those two say nothing to a client, so they are left out
 * whenever a real problem is reported with them.
 */
function informativeIssues(issues: NonNullable<FastifyError['validation']>) {
  const informative = issues.filter(
    (issue) =>
      issue.keyword !== 'anyOf' &&
      !(issue.keyword === 'type' && (issue.params as { type?: unknown }).type === 'null'),
  );
  return informative.length > 0 ? informative : issues;
}

function fieldProblems(error: FastifyError): FieldProblem[] {
  const where = error.validationContext ?? 'body';
  return informativeIssues(error.validation ?? []).map((issue) => {
    const params = issue.params as Record<string, unknown>;
    const path = issue.instancePath.replace(/^\//, '').replaceAll('/', '.');
    const missing = typeof params.missingProperty === 'string' ? params.missingProperty : undefined;
    const extra = typeof params.additionalProperty === 'string' ? params.additionalProperty : undefined;
    const field = [path, missing ?? extra].filter((part) => part !== undefined && part !== '').join('.');
    return { field: field === '' ? where : field, message: issue.message ?? 'is invalid' };
  });
}

export function sendError(request: FastifyRequest, reply: FastifyReply, body: ErrorBody): FastifyReply {
  return reply.status(body.statusCode).send({
    success: false,
    error: {
      code: body.code,
      message: body.message,
      ...(body.details === undefined ? {} : { details: body.details }),
    },
    requestId: request.id,
  });
}

export function registerErrorHandling(app: FastifyInstance, isDevelopment: boolean): void {
  app.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    // Not a failure: the use case found its key already answered and rolled back.
    if (error instanceof IdempotentReplay) {
      return reply.status(error.statusCode).header('idempotent-replayed', 'true').send(error.body);
    }
    const body = classifyError(error, isDevelopment);
    if (body.statusCode >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else {
      request.log.info({ code: body.code, statusCode: body.statusCode }, body.message);
    }
    if (error instanceof AppError && error.headers !== undefined) reply.headers(error.headers);
    return sendError(request, reply, body);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, {
      statusCode: 404,
      code: 'ROUTE_NOT_FOUND',
      message: `Route ${request.method} ${request.url.split('?')[0]} not found`,
    }),
  );
}
