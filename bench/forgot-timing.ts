/**
 * Issue 19, finding 7: can a client tell from timing whether "forgot password" named an account?
 * Not only the request itself: the request right after it, too (work that a known address sets
 * off would slow it). For each sample: POST /auth/password/forgot for a known address (each used
 * once, as someone enumerating would) or an unknown one, then at once the probe, another forgot
 * for a fresh unknown address; a pause; next sample. Prints medians and p90s.
 *
 *   node dist/bench/forgot-timing.js [samples]        (TEST_DB=mysql for MariaDB; SQLite otherwise)
 *
 * The app runs in this process (test/support/app), with a real SMTP server (test/support/smtp).
 */
import { randomBytes } from 'node:crypto';
import { startApp, TEST_DB } from '../test/support/app';
import { SmtpSink } from '../test/support/smtp';

const SAMPLES = Number(process.argv[2] ?? 200);
const PAUSE_MS = 150;

async function post(url: string, body: unknown): Promise<number> {
  const started = performance.now();
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await r.arrayBuffer();
  if (r.status !== 202 && r.status !== 201) throw new Error(`unexpected ${r.status}`);
  return performance.now() - started;
}

function summary(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${s[s.length >> 1].toFixed(2)} ms, p90 ${s[Math.floor(s.length * 0.9)].toFixed(2)} ms`;
}

async function main(): Promise<void> {
  const smtp = await SmtpSink.start();
  const app = await startApp({ SMTP_URL: smtp.url, LOG_LEVEL: 'silent' });
  try {
    const known: string[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const email = `timing-${i}-${randomBytes(3).toString('hex')}@example.test`;
      await post(`${app.url}/auth/register`, { email, password: 'timing password 1' });
      known.push(email);
    }
    await new Promise((resolve) => setTimeout(resolve, 3000)); // the verification mails go first
    const unknown = () => `nobody-${randomBytes(6).toString('hex')}@example.test`;
    const times = { known: [] as number[], unknown: [] as number[], afterKnown: [] as number[], afterUnknown: [] as number[] };
    for (let i = 0; i < SAMPLES * 2; i++) {
      const isKnown = i % 2 === 0;
      times[isKnown ? 'known' : 'unknown'].push(await post(`${app.url}/auth/password/forgot`, { email: isKnown ? known[i >> 1] : unknown() }));
      times[isKnown ? 'afterKnown' : 'afterUnknown'].push(await post(`${app.url}/auth/password/forgot`, { email: unknown() }));
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
    }
    const resets = () => smtp.received.filter((m) => /Reset your/.test(m.subject)).length;
    for (const deadline = Date.now() + 15_000; resets() < SAMPLES && Date.now() < deadline;) await new Promise((resolve) => setTimeout(resolve, 50));
    process.stdout.write(
      `forgot timing [${TEST_DB}], ${SAMPLES} samples each:\n` +
        `  known address:              ${summary(times.known)}\n` +
        `  unknown address:            ${summary(times.unknown)}\n` +
        `  the request after known:    ${summary(times.afterKnown)}\n` +
        `  the request after unknown:  ${summary(times.afterUnknown)}\n` +
        `  reset mails received: ${resets()} of ${SAMPLES}\n`,
    );
  } finally {
    await app.close();
    await smtp.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
