/**
 * Experiment, not used by the app: preloaded into the app process
 * (BENCH_APP_NODE_ARGS="-r ./dist/bench/experiments/nice-argon2.js" node dist/bench/logins.js),
 * it reroutes @node-rs/argon2's hash/verify to worker threads that lowered their own scheduling
 * priority (nice 19; on Linux the nice value is per thread). Question it answers: does the
 * protected route's p99 during a login flood come from argon2 competing with the event loop
 * for the 2 cores, and does de-prioritising the hashing fix it?
 */
import { setPriority } from 'node:os';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const argon2 = require('@node-rs/argon2') as Record<string, (...args: unknown[]) => unknown>;
const WORKERS = Number(process.env.NICE_ARGON2_WORKERS ?? 2);

if (isMainThread) {
  const workers = Array.from({ length: WORKERS }, () => {
    const w = new Worker(__filename);
    w.unref();
    return { w, busy: 0 };
  });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; worker: { busy: number } }>();
  let nextId = 0;
  for (const slot of workers) {
    slot.w.on('message', (m: { id: number; ok: boolean; value?: unknown; error?: string }) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      p.worker.busy--;
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(m.error));
    });
  }
  const call = (op: 'hashSync' | 'verifySync', args: unknown[]) =>
    new Promise((resolve, reject) => {
      const slot = workers.reduce((a, b) => (b.busy < a.busy ? b : a));
      slot.busy++;
      const id = nextId++;
      pending.set(id, { resolve, reject, worker: slot });
      slot.w.postMessage({ id, op, args });
    });
  argon2.hash = (...args: unknown[]) => call('hashSync', args);
  argon2.verify = (...args: unknown[]) => call('verifySync', args);
} else {
  setPriority(0, 19);
  parentPort!.on('message', (m: { id: number; op: string; args: unknown[] }) => {
    try {
      parentPort!.postMessage({ id: m.id, ok: true, value: argon2[m.op](...m.args) });
    } catch (error) {
      parentPort!.postMessage({ id: m.id, ok: false, error: (error as Error).message });
    }
  });
}
