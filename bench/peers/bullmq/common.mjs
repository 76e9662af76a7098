// Connection and queue name shared by the BullMQ bench worker and producer.
export const QUEUE = "bench";
// the realistic job INCRs this counter (the Python peers use the same key: job.py)
export const COUNTER_KEY = "bench:counter";

export function connection() {
  const url = new URL(process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/15");
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    db: Number(url.pathname.slice(1) || 0),
    // BullMQ workers need blocking commands to wait forever rather than fail
    maxRetriesPerRequest: null,
  };
}
