import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The application's clock: tokens, sessions, throttles, TOTP, retention and journal rules
     * all read the time here, so a test can move it (buildApp's `now`).
     */
    clock: () => Date;
  }
}

async function clockPlugin(app: FastifyInstance, options: { now?: (() => Date) | undefined }) {
  app.decorate('clock', options.now ?? (() => new Date()));
}

export default fp(clockPlugin, { name: 'clock', fastify: '5.x' });
