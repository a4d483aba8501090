import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Controller, Get, Module, Req, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import express from 'express';
import Fastify from 'fastify';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { LatchkeyGuard, createVerifier, latchkeyExpress, latchkeyFastify, type AccessTokenClaims, type Verifier } from '../src';
import { FakeIssuer } from '../test-support/fake-issuer';
import { recordingLogger } from '../test-support/helpers';

interface Answer {
  status: number;
  wwwAuthenticate: string | null;
  body: Record<string, unknown>;
}

/** The same three requests against every adapter: no token, a bad token, a good one. */
async function checkAdapter(call: (headers: Record<string, string>) => Promise<Answer>, issuer: FakeIssuer): Promise<void> {
  const missing = await call({});
  assert.equal(missing.status, 401);
  assert.equal(missing.wwwAuthenticate, 'Bearer');
  assert.equal(missing.body.error, 'invalid_token');
  assert.equal(missing.body.statusCode, 401);

  const bad = await call({ authorization: `Bearer ${await issuer.token({ aud: 'elsewhere' })}` });
  assert.equal(bad.status, 401);
  assert.equal(bad.wwwAuthenticate, 'Bearer error="invalid_token"');
  assert.deepEqual(Object.keys(bad.body).sort(), ['error', 'message', 'statusCode']);

  const good = await call({ authorization: `Bearer ${await issuer.token({ sub: 'u-7', role: 'admin' })}` });
  assert.equal(good.status, 200);
  assert.equal(good.body.sub, 'u-7');
  assert.equal(good.body.role, 'admin');
}

async function httpCall(base: string, path: string, headers: Record<string, string>): Promise<Answer> {
  const response = await fetch(`${base}${path}`, { headers });
  return { status: response.status, wwwAuthenticate: response.headers.get('www-authenticate'), body: (await response.json()) as Record<string, unknown> };
}

describe('framework adapters', () => {
  let issuer: FakeIssuer;
  let verifier: Verifier;

  before(async () => {
    issuer = await FakeIssuer.start();
    verifier = createVerifier({ ...issuer.verifierOptions, logger: recordingLogger() });
    await verifier.ready();
  });
  after(async () => {
    await verifier.close();
    await issuer.close();
  });

  test('Express middleware: 401 with WWW-Authenticate, 200 with req.latchkey', async (t) => {
    const app = express();
    app.get('/me', latchkeyExpress(verifier), (req, res) => res.json(req.latchkey));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    t.after(() => new Promise((resolve) => server.close(resolve)));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await checkAdapter((headers) => httpCall(base, '/me', headers), issuer);
  });

  test('Express middleware: a DPoP-bound token with its proof, htu rebuilt from the request', async (t) => {
    const app = express();
    app.get('/things', latchkeyExpress(verifier), (req, res) => res.json(req.latchkey));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    t.after(() => new Promise((resolve) => server.close(resolve)));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    const token = await issuer.token({ cnf: { jkt: await calculateJwkThumbprint(jwk) } });
    const dpop = await new SignJWT({
      htm: 'GET',
      htu: `${base}/things`,
      iat: Math.floor(Date.now() / 1000),
      jti: randomUUID(),
      ath: createHash('sha256').update(token).digest('base64url'),
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
      .sign(privateKey);
    const ok = await httpCall(base, '/things?x=1', { authorization: `DPoP ${token}`, dpop });
    assert.equal(ok.status, 200);
    const replay = await httpCall(base, '/things?x=1', { authorization: `DPoP ${token}`, dpop });
    assert.equal(replay.status, 401);
    assert.equal(replay.body.error, 'invalid_dpop_proof');
    assert.match(replay.wwwAuthenticate!, /^DPoP error="invalid_dpop_proof"/);
  });

  test('Fastify hook: 401 with WWW-Authenticate, 200 with request.latchkey', async (t) => {
    const app = Fastify();
    t.after(() => app.close());
    app.decorateRequest('latchkey', null);
    app.addHook('onRequest', latchkeyFastify(verifier));
    app.get('/me', async (request) => (request as unknown as { latchkey: AccessTokenClaims }).latchkey);
    await checkAdapter(async (headers) => {
      const response = await app.inject({ method: 'GET', url: '/me', headers });
      return { status: response.statusCode, wwwAuthenticate: (response.headers['www-authenticate'] as string) ?? null, body: response.json() };
    }, issuer);
  });

  /** One controller guarded by `new LatchkeyGuard(verifier)`, as a Nest user would write it. */
  function nestModule() {
    @Controller()
    class MeController {
      @Get('me')
      @UseGuards(new LatchkeyGuard(verifier))
      me(@Req() request: { latchkey: AccessTokenClaims }): AccessTokenClaims {
        return request.latchkey;
      }
    }
    @Module({ controllers: [MeController] })
    class AppModule {}
    return AppModule;
  }

  test('Nest guard on Express: 401 with WWW-Authenticate, 200 with request.latchkey', async (t) => {
    const app = await NestFactory.create(nestModule(), new ExpressAdapter(), { logger: false });
    t.after(() => app.close());
    await app.listen(0, '127.0.0.1');
    const base = await app.getUrl();
    await checkAdapter((headers) => httpCall(base, '/me', headers), issuer);
  });

  test('Nest guard on Fastify: the same answers', async (t) => {
    const adapter = new FastifyAdapter();
    const app = await NestFactory.create(nestModule(), adapter, { logger: false });
    t.after(() => app.close());
    await app.init();
    await adapter.getInstance().ready();
    await checkAdapter(async (headers) => {
      const response = await adapter.getInstance().inject({ method: 'GET', url: '/me', headers });
      return { status: response.statusCode, wwwAuthenticate: (response.headers['www-authenticate'] as string) ?? null, body: response.json() };
    }, issuer);
  });
});
