// One BullMQ Worker process; concurrency from BULLMQ_CONCURRENCY (the bench uses 10).
// BENCH_JOB=realistic (default): one INCR of the shared counter through ioredis, BullMQ's
// own client, its value returned with the echo; BENCH_JOB=noop: the echo alone.
import IORedis from "ioredis";
import { Worker } from "bullmq";
import { COUNTER_KEY, QUEUE, connection } from "./common.mjs";

const concurrency = Number(process.env.BULLMQ_CONCURRENCY ?? 10);
const realistic = (process.env.BENCH_JOB ?? "realistic") === "realistic";
const store = realistic ? new IORedis(connection()) : null;

async function job(job) {
  if (!store) return { ok: true, i: job.data.i };
  return { ok: true, i: job.data.i, count: await store.incr(COUNTER_KEY) };
}

const worker = new Worker(QUEUE, job, { connection: connection(), concurrency });
worker.on("error", (err) => console.error("worker error", err));

async function shutdown() {
  await worker.close();
  store?.disconnect();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
