import type { AuthInfo } from '@herald/protocol';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { cookieValue, SESSION_COOKIE, type Gatekeeper } from '../access/gatekeeper.js';
import type { Principal } from '../access/principal.js';
import { HeraldError } from '../errors.js';

export interface AuthRoutesContext {
  gate: Gatekeeper;
  /** Whether cookies get `Secure` (the hub is reached over https). */
  secureCookies: boolean;
}

/**
 * Sign-in for the dashboard (a key or token in, an HttpOnly session cookie out), who-am-I, and SSE
 * tickets for browsers (EventSource cannot send Authorization). These routes only find out who the
 * caller is; they read nothing on anyone's behalf.
 */
export function registerAuthRoutes(app: FastifyInstance, { gate, secureCookies }: AuthRoutesContext): void {
  const info = (who: Principal): AuthInfo => ({
    mode: gate.policy.mode,
    ...(who.kind === 'anonymous'
      ? {}
      : { principal: { name: who.name, kind: who.kind === 'key' ? 'key' : who.kind === 'token' ? 'token' : 'open', grant: who.grant, ...(who.expiresAt ? { expiresAt: who.expiresAt } : {}) } }),
  });
  const setCookie = (reply: FastifyReply, value: string, maxAgeSeconds: number) =>
    reply.header('set-cookie', `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secureCookies ? '; Secure' : ''}`);

  app.get('/api/auth/me', async (request) => info(request.principal));

  app.post(
    '/api/auth/session',
    { schema: { body: { type: 'object', properties: { credential: { type: 'string', minLength: 1, maxLength: 8192 } }, required: ['credential'] } } },
    async (request, reply) => {
      const who = await gate.policy.authenticate((request.body as { credential: string }).credential);
      gate.policy.requireLive(who);
      if (!gate.policy.required) return info(who);
      const session = await gate.sessions.issue(who);
      setCookie(reply, session.id, Math.max(1, Math.floor((session.expiresAt - Date.now()) / 1000)));
      return info((await gate.sessions.redeem(session.id)) ?? who);
    },
  );

  app.delete('/api/auth/session', async (request, reply) => {
    const session = cookieValue(request.headers.cookie, SESSION_COOKIE);
    if (session !== undefined) {
      await gate.sessions.revoke(session);
      // What was opened with the session (the dashboard's socket, its streams) ends with it.
      gate.policy.revoke((who) => who.session === session);
    }
    setCookie(reply, '', 0);
    return { mode: gate.policy.mode };
  });

  app.post('/api/auth/ticket', async (request) => {
    const who = request.principal;
    gate.policy.requireLive(who);
    if (who.kind === 'anonymous') throw new HeraldError('unauthorized', 'sign in first');
    const ticket = await gate.tickets.issue(who);
    return { ticket: ticket.id, expiresAt: ticket.expiresAt };
  });
}
