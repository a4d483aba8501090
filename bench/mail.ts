/**
 * Issue 12: mail through the outbox into a local SMTP server (smtp-server in this process).
 *   - throughput: a burst of reset requests for known accounts, and how fast the outbox
 *     delivers them (mails/s from the first request to the last arrival);
 *   - latency: reset requests paced well under that rate, request to arrival, p50 and p99;
 *   - POST /auth/password/forgot for known against unknown addresses (autocannon, back to
 *     back): the same work, one INSERT, and no argon2 (compared with GET /health).
 */
import { randomBytes } from 'node:crypto';
import { SMTPServer } from 'smtp-server';
import { CONNECTIONS, DURATION, freePort, generateSecrets, load, log, parallel, postJson, registerUsers, round, runScenario, sleep } from './lib';

const USERS = Number(process.env.BENCH_MAIL_USERS ?? 400);
const PACED_RATE = 20;
const PACED_SECONDS = 10;

interface Arrival {
  to: string;
  at: number;
}

/** A local SMTP server that only notes who got a reset mail, and when. */
async function smtpSink(port: number): Promise<{ arrivals: Arrival[]; close(): Promise<void> }> {
  const arrivals: Arrival[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    closeTimeout: 100,
    onData(stream, session, callback) {
      let subject = '';
      stream.on('data', (chunk: Buffer) => {
        if (!subject) subject = /^Subject: (.*)$/m.exec(chunk.toString('latin1'))?.[1] ?? '';
      });
      stream.on('end', () => {
        if (/Reset your/.test(subject)) arrivals.push({ to: session.envelope.rcptTo[0]?.address ?? '', at: performance.now() });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return { arrivals, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))], 1);
}

runScenario('mail', 6 * 60_000, async (scenario) => {
  const database = await scenario.database();
  const smtpPort = freePort();
  const smtp = await smtpSink(smtpPort);
  scenario.cleanup.push(() => smtp.close());
  const app = await scenario.startApp({ name: 'mail-app', database, secrets: generateSecrets(), env: { SMTP_URL: `smtp://127.0.0.1:${smtpPort}` } });

  log(`registering ${USERS} users (each gets a verification mail, which the sink ignores)`);
  const emails = await registerUsers(app, 'mail', USERS);
  await sleep(3000);
  const forgot = (email: string) => postJson(`${app.url}/auth/password/forgot`, { email });

  // Throughput: one reset request per known account, 50 at a time, as fast as they are answered.
  smtp.arrivals.length = 0;
  const burstStart = performance.now();
  await parallel(USERS, CONNECTIONS, (i) => forgot(emails[i]));
  const answered = performance.now() - burstStart;
  const deadline = Date.now() + 120_000;
  while (smtp.arrivals.length < USERS && Date.now() < deadline) await sleep(20);
  const delivered = smtp.arrivals.length;
  const burstSeconds = (smtp.arrivals[delivered - 1].at - burstStart) / 1000;
  const throughput = {
    mails: USERS,
    delivered,
    requestsAnsweredS: round(answered / 1000, 2),
    lastArrivalS: round(burstSeconds, 2),
    mailsPerSecond: round(delivered / burstSeconds, 1),
  };
  log(
    `burst: ${delivered}/${USERS} reset mails in ${throughput.lastArrivalS} s (${throughput.mailsPerSecond}/s; requests answered in ${throughput.requestsAnsweredS} s)`,
  );

  // Latency: requests paced at PACED_RATE/s, for accounts that have had one reset mail this hour.
  smtp.arrivals.length = 0;
  const sentAt = new Map<string, number>();
  const paced = Array.from({ length: PACED_RATE * PACED_SECONDS }, (_, i) => emails[i % USERS]);
  const pacedStart = performance.now();
  await Promise.all(
    paced.map(async (email, i) => {
      await sleep(pacedStart + (i * 1000) / PACED_RATE - performance.now());
      sentAt.set(email, performance.now());
      await forgot(email);
    }),
  );
  const pacedDeadline = Date.now() + 60_000;
  while (smtp.arrivals.length < paced.length && Date.now() < pacedDeadline) await sleep(20);
  const latencies = smtp.arrivals.map((a) => a.at - (sentAt.get(a.to) ?? a.at));
  const latency = {
    rate: PACED_RATE,
    requests: paced.length,
    delivered: smtp.arrivals.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: percentile(latencies, 100),
  };
  log(`paced at ${PACED_RATE}/s: request to arrival p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms`);

  // forgot for known and unknown addresses, back to back (known ones are past their 3 an hour by now, as an attacker's would be).
  let k = 0;
  const known = (req: Record<string, unknown>) => ({
    ...req,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: `{"email":"${emails[k++ % USERS]}"}`,
  });
  const unknown = (req: Record<string, unknown>) => ({
    ...req,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: `{"email":"nobody-${randomBytes(6).toString('hex')}@bench.test"}`,
  });
  const health = await load({ label: 'GET /health', url: app.url, path: '/health' });
  const knownRun = await load({
    label: 'POST /auth/password/forgot, known addresses',
    url: app.url,
    path: '/auth/password/forgot',
    method: 'POST',
    setupRequest: known,
  });
  const unknownRun = await load({
    label: 'POST /auth/password/forgot, unknown addresses',
    url: app.url,
    path: '/auth/password/forgot',
    method: 'POST',
    setupRequest: unknown,
  });
  const knownAgain = await load({
    label: 'POST /auth/password/forgot, known addresses (again)',
    url: app.url,
    path: '/auth/password/forgot',
    method: 'POST',
    setupRequest: known,
  });
  for (const run of [knownRun, unknownRun, knownAgain]) if (run.non2xx) throw new Error(`${run.label}: ${run.non2xx} answers were not 202`);
  const knownRps = (knownRun.rps + knownAgain.rps) / 2;
  const forgotRows = [
    { run: 'GET /health', 'req/s': health.rps, 'p50 ms': health.p50, 'p99 ms': health.p99 },
    { run: 'forgot, known (mean of two runs)', 'req/s': round(knownRps, 0), 'p50 ms': knownRun.p50, 'p99 ms': knownRun.p99 },
    { run: 'forgot, unknown', 'req/s': unknownRun.rps, 'p50 ms': unknownRun.p50, 'p99 ms': unknownRun.p99 },
  ];
  const ratios = {
    unknownVsKnown: round(unknownRun.rps / knownRps, 2),
    knownVsHealth: round(knownRps / health.rps, 2),
  };
  scenario.table('Mail through the outbox', [
    { what: `burst of ${USERS} reset requests: mails/s, first request to last arrival`, value: throughput.mailsPerSecond },
    { what: `paced at ${PACED_RATE}/s: request to arrival, p50 ms`, value: latency.p50Ms },
    { what: `paced at ${PACED_RATE}/s: request to arrival, p99 ms`, value: latency.p99Ms },
  ]);
  scenario.table(`POST /auth/password/forgot (${CONNECTIONS} connections, ${DURATION} s)`, forgotRows);
  scenario.ratios('Ratios', ratios);
  scenario.write({ users: USERS, throughput, latency, forgot: forgotRows, ratios, runs: { health, knownRun, unknownRun, knownAgain } });
});
