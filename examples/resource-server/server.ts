// A resource server protected by latchkey: it verifies access tokens offline and refuses a
// revoked session at once, by following latchkey's revocation feed (@latchkey/verifier).
// Run: LATCHKEY_URL=http://localhost:3000 LATCHKEY_CLIENT_ID=… LATCHKEY_CLIENT_SECRET=… node dist/examples/resource-server/server.js
import Fastify from 'fastify';
import { createVerifier, latchkeyFastify, type AccessTokenClaims } from '@latchkey/verifier';

declare module 'fastify' {
  interface FastifyRequest {
    latchkey: AccessTokenClaims | null;
  }
}

async function main(env = process.env): Promise<void> {
  const verifier = createVerifier({
    issuer: env.LATCHKEY_URL!, // latchkey's JWT_ISSUER
    audience: env.LATCHKEY_AUDIENCE ?? 'latchkey',
    clientId: env.LATCHKEY_CLIENT_ID!,
    clientSecret: env.LATCHKEY_CLIENT_SECRET!,
    maxStaleness: Number(env.MAX_STALENESS_MS ?? 60_000),
    transport: env.FEED_TRANSPORT === 'poll' ? 'poll' : 'stream',
  });
  await verifier.ready();

  const app = Fastify();
  app.decorateRequest('latchkey', null);
  app.get('/health', async (_request, reply) => reply.code(verifier.status().stale ? 503 : 200).send(verifier.status()));
  app.get('/public', async () => ({ hello: 'world' }));
  app.get('/orders', { preHandler: latchkeyFastify(verifier) }, async (request) => ({ user: request.latchkey!.sub, session: request.latchkey!.sid }));
  app.addHook('onClose', () => verifier.close());
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
  await app.listen({ port: Number(env.PORT ?? 8080), host: env.HOST ?? '127.0.0.1' });
}

main().catch((error: Error) => {
  process.stderr.write(`resource server: ${error.message}\n`);
  process.exit(1);
});
