import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { pageRequest } from '../../http/pagination.ts';
import { requirePrincipal } from '../../http/principal.ts';
import { requestContext } from '../../http/request-context.ts';
import { IdParams, replies } from '../../http/schemas.ts';
import {
  LoginBody,
  LogoutReply,
  MeReply,
  RefreshBody,
  RegisterBody,
  RegisterReply,
  SessionReply,
  UserListQuery,
  UserListReply,
  UserPatchBody,
  UserReply,
} from './schemas.ts';
import type { AuthService } from './service.ts';

export const authRoutes: FastifyPluginAsyncTypebox<{ auth: AuthService }> = async (app, { auth }) => {
  app.post(
    '/auth/register',
    {
      config: { access: 'public', idempotency: 'none' as const },
      schema: {
        tags: ['auth'],
        summary: 'Create an account (user, merchant or vendor) and sign in',
        security: [],
        body: RegisterBody,
        response: replies({ 201: RegisterReply }),
      },
    },
    async (request, reply) => {
      const session = await auth.register(request.body, requestContext(request));
      return reply.status(201).send({ success: true as const, data: session, message: 'Account created' });
    },
  );

  app.post(
    '/auth/login',
    {
      config: { access: 'public', idempotency: 'none' as const },
      schema: {
        tags: ['auth'],
        summary: 'Sign in with email and password',
        security: [],
        body: LoginBody,
        response: replies({ 200: SessionReply }),
      },
    },
    async (request) => {
      const session = await auth.login(request.body, requestContext(request));
      return { success: true as const, data: session };
    },
  );

  app.post(
    '/auth/refresh',
    {
      config: { access: 'public', idempotency: 'none' as const },
      schema: {
        tags: ['auth'],
        summary: 'Exchange a refresh token for a new pair (the old one stops working)',
        security: [],
        body: RefreshBody,
        response: replies({ 200: SessionReply }),
      },
    },
    async (request) => {
      const session = await auth.refresh(request.body.refreshToken, requestContext(request));
      return { success: true as const, data: session };
    },
  );

  app.post(
    '/auth/logout',
    {
      config: { access: 'public', idempotency: 'none' as const },
      schema: {
        tags: ['auth'],
        summary: "Revoke a refresh token's whole family",
        security: [],
        body: RefreshBody,
        response: replies({ 200: LogoutReply }),
      },
    },
    async (request) => {
      const data = await auth.logout(request.body.refreshToken, requestContext(request));
      return { success: true as const, data, message: 'Signed out' };
    },
  );

  app.get(
    '/auth/me',
    {
      config: { access: 'authenticated' },
      schema: { tags: ['auth'], summary: 'The signed-in user', response: replies({ 200: MeReply }) },
    },
    async (request) => {
      const user = await auth.me(requirePrincipal(request.principal));
      return { success: true as const, data: { user } };
    },
  );

  app.get(
    '/admin/users',
    {
      config: { access: ['admin'] },
      schema: {
        tags: ['admin'],
        summary: 'List users',
        querystring: UserListQuery,
        response: replies({ 200: UserListReply }),
      },
    },
    async (request) => {
      const { role, search } = request.query;
      const data = await auth.listUsers({ role, search }, pageRequest(request.query));
      return { success: true as const, data };
    },
  );

  app.patch(
    '/admin/users/:id',
    {
      config: { access: ['admin'] },
      schema: {
        tags: ['admin'],
        summary: "Change a user's role, or activate or disable it",
        params: IdParams,
        body: UserPatchBody,
        response: replies({ 200: UserReply }),
      },
    },
    async (request) => {
      const user = await auth.updateUser(
        requirePrincipal(request.principal),
        request.params.id,
        request.body,
        requestContext(request),
      );
      return { success: true as const, data: { user }, message: 'User updated' };
    },
  );
};
