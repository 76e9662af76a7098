// One BullMQ Worker process; concurrency from BULLMQ_CONCURRENCY (the bench uses 10).
import { Worker } from "bullmq";
import { QUEUE, connection } from "./common.mjs";

const concurrency = Number(process.env.BULLMQ_CONCURRENCY ?? 10);
const worker = new Worker(QUEUE, async (job) => ({ ok: true, i: job.data.i }), {
  connection: connection(),
  concurrency,
});
worker.on("error", (err) => console.error("worker error", err));

async function shutdown() {
  await worker.close();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
