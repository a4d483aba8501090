/**
 * Sign and verify cost per algorithm with the library that @nestjs/jwt and passport-jwt use
 * (jsonwebtoken), keys pre-parsed into KeyObjects. Prints a table and writes JSON.
 *   npm run bench:jwt
 */
import { generateKeyPairSync, createSecretKey, randomBytes, KeyObject } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as jwt from 'jsonwebtoken';

interface Row {
  alg: string;
  signUs: number;
  verifyUs: number;
  tokenBytes: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(fn: () => void, iterations: number): number {
  for (let i = 0; i < Math.min(200, iterations); i++) fn();
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn();
    runs.push(Number(process.hrtime.bigint() - start) / 1000 / iterations);
  }
  return median(runs);
}

function measure(alg: jwt.Algorithm, signKey: KeyObject, verifyKey: KeyObject, iterations: number): Row {
  const payload = { sub: '01a2087a-13b3-7b62-b231-cc7c941a2c40', sid: '01a2087a-13b3-7b62-b231-cc7c941a2c41', role: 'user' };
  const opts: jwt.SignOptions = {
    algorithm: alg,
    expiresIn: 900,
    issuer: 'http://localhost:3000',
    audience: 'latchkey',
    keyid: 'k',
    header: { typ: 'at+jwt', alg },
  };
  const token = jwt.sign(payload, signKey, opts);
  const signUs = time(() => jwt.sign(payload, signKey, opts), iterations);
  const verifyUs = time(() => jwt.verify(token, verifyKey, { algorithms: [alg], issuer: 'http://localhost:3000', audience: 'latchkey' }), iterations);
  return { alg, signUs: Math.round(signUs * 10) / 10, verifyUs: Math.round(verifyUs * 10) / 10, tokenBytes: token.length };
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const hmac = createSecretKey(randomBytes(32));
const rows = [measure('RS256', rsa.privateKey, rsa.publicKey, 400), measure('ES256', ec.privateKey, ec.publicKey, 1000), measure('HS256', hmac, hmac, 4000)];
console.table(rows);
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/jwt-algorithms.json', JSON.stringify({ date: new Date().toISOString(), node: process.version, rows }, null, 2) + '\n');
