// BullMQ producer driven by bullmq_driver.py: one JSON command per stdin line, one JSON reply.
//   {"cmd": "each", "n": N}    add N jobs one at a time
//   {"cmd": "bulk", "n": N}    add N jobs with Queue.addBulk (in chunks of 1,000)
//   {"cmd": "trips", "count": K, "budget_ms": B}  K round trips via job.waitUntilFinished
import readline from "node:readline";
import { Queue, QueueEvents } from "bullmq";
import { QUEUE, connection } from "./common.mjs";

const BULK_CHUNK = 1000;
const TRIP_TIMEOUT_MS = 10000;
const queue = new Queue(QUEUE, { connection: connection() });
const events = new QueueEvents(QUEUE, { connection: connection() });
await queue.waitUntilReady();
await events.waitUntilReady();

async function each(n) {
  for (let i = 0; i < n; i++) await queue.add("job", { i });
  return {};
}

async function bulk(n) {
  for (let start = 0; start < n; start += BULK_CHUNK) {
    const jobs = [];
    for (let i = start; i < Math.min(n, start + BULK_CHUNK); i++) jobs.push({ name: "job", data: { i } });
    await queue.addBulk(jobs);
  }
  return {};
}

async function trips(count, budgetMs) {
  const latencies = [];
  const stopAt = performance.now() + budgetMs;
  while (latencies.length < count && performance.now() < stopAt) {
    const started = performance.now();
    const job = await queue.add("job", { i: 0 });
    const result = await job.waitUntilFinished(events, TRIP_TIMEOUT_MS);
    latencies.push((performance.now() - started) / 1000);
    if (!result?.ok) throw new Error(`bad result ${JSON.stringify(result)}`);
  }
  return { latencies };
}

const commands = {
  each: (c) => each(c.n),
  bulk: (c) => bulk(c.n),
  trips: (c) => trips(c.count, c.budget_ms),
};
const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  const command = JSON.parse(line);
  try {
    const reply = await commands[command.cmd](command);
    process.stdout.write(JSON.stringify({ ok: true, ...reply }) + "\n");
  } catch (err) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(err) }) + "\n");
  }
}
await events.close();
await queue.close();
