#!/usr/bin/env node
// A taskqueue worker in Node.js: leases tasks over WorkerService, runs them, keeps their
// leases alive (one RenewLeases call per third of the lease, which is also the heartbeat),
// reports progress, completes and fails them, and hands unfinished ones back on SIGTERM.
//
//   node worker.mjs [--target host:port] [--token T] [--types node_echo,node_fail]
//                   [--queue default] [--concurrency 4] [--lease-seconds 30] [--grace 10]
//
// Prints one line per outcome ("completed <id>", "failed <id>", "stopped <id>") so a test
// can follow it; exits 0 after a graceful stop, 69 when the server refuses the worker.
import os from 'node:os';
import { parseArgs } from 'node:util';
import grpc from '@grpc/grpc-js';
import proto from './proto.js';

const { loadProto, toStruct, fromStruct } = proto;

// The handlers: task type -> async (data, ctx) => result object. Throwing fails the attempt;
// an error with `permanent = true` fails the task, one with `retryAfterSeconds` sets the delay.
const HANDLERS = {
  async node_echo(data, ctx) {
    await ctx.progress(50, 'halfway');
    return { echo: data, attempt: ctx.attempt, by: 'node' };
  },
  async node_fail(data) {
    const error = new Error(data.message || 'failed on purpose');
    error.permanent = Boolean(data.permanent);
    throw error;
  },
  async node_sleep(data, ctx) {
    const until = Date.now() + 1000 * (data.seconds || 1);
    while (Date.now() < until && !ctx.signal.aborted) await sleep(20);
    return { slept: !ctx.signal.aborted };
  },
  async fleet(data) {
    await sleep(data.ms || 0); // the work, in the tests' mixed fleet
    return { by: 'node', n: data.n ?? null };
  },
};

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

function timestampToMs(ts) {
  return Number(ts.seconds) * 1000 + Math.floor((ts.nanos || 0) / 1e6);
}

class NodeWorker {
  constructor(options) {
    const { WorkerService } = grpc.loadPackageDefinition(
      loadProto('taskqueue/v1/worker.proto')).taskqueue.v1;
    this.client = new WorkerService(options.target, grpc.credentials.createInsecure());
    this.metadata = new grpc.Metadata();
    if (options.token) this.metadata.set('authorization', `Bearer ${options.token}`);
    this.options = options;
    this.running = new Map(); // task id -> { task, abort, leaseUntil }
    this.stopping = false;
    this.started = Date.now();
    this.slotFreed = null;
  }

  call(method, request, waitSeconds = 0) {
    const deadline = new Date(Date.now() + 1000 * (waitSeconds + 30));
    return new Promise((resolve, reject) => {
      const pending = this.client[method](request, this.metadata, { deadline }, (error, response) =>
        (error ? reject(error) : resolve(response)));
      if (method === 'LeaseTasks') this.polling = pending; // cancelled by stop()
    });
  }

  async leaseLoop() {
    const { options } = this;
    while (!this.stopping) {
      const free = options.concurrency - this.running.size;
      if (free <= 0) {
        await new Promise((resolve) => { this.slotFreed = resolve; });
        continue;
      }
      let reply;
      try {
        reply = await this.call('LeaseTasks', {
          worker_id: options.workerId,
          queues: options.queues,
          task_types: options.types,
          max_tasks: free,
          lease_seconds: options.leaseSeconds,
          wait_seconds: options.pollSeconds,
        }, options.pollSeconds);
      } catch (error) {
        if (this.stopping) return;
        if (error.code !== grpc.status.UNAVAILABLE) throw error;
        await sleep(500);
        continue;
      }
      for (const task of reply.tasks) this.launch(task);
    }
  }

  launch(task) {
    const abort = new AbortController();
    // A long poll may wait long before the server claims the task: the lease runs from the
    // server's claim (lease_expires_at; clocks kept in sync by NTP), never past a lease from now.
    const leaseUntil = Math.min(Date.now() + 1000 * this.options.leaseSeconds,
      timestampToMs(task.lease_expires_at));
    const entry = { task, abort, leaseUntil };
    this.running.set(task.task_id, entry);
    const ctx = {
      taskId: task.task_id,
      attempt: task.attempt,
      signal: abort.signal,
      progress: (progress, message = '') => this.call('ReportProgress', {
        task_id: task.task_id, lease_token: task.lease_token, progress, message,
      }),
    };
    entry.done = this.execute(entry, ctx).finally(() => {
      this.running.delete(task.task_id);
      if (this.slotFreed) this.slotFreed();
      this.slotFreed = null;
    });
  }

  async execute(entry, ctx) {
    const { task } = entry;
    const lease = { task_id: task.task_id, lease_token: task.lease_token };
    let method;
    let request;
    try {
      const result = await HANDLERS[task.task_type](fromStruct(task.task_data), ctx);
      method = 'CompleteTask';
      request = { ...lease, result: toStruct(result || {}) };
    } catch (error) {
      method = 'FailTask';
      request = { ...lease, error: String(error.message || error), permanent: !!error.permanent };
      if (error.retryAfterSeconds !== undefined) {
        request.retry_after_seconds = error.retryAfterSeconds;
      }
    }
    if (entry.abort.signal.aborted) {
      console.log(`stopped ${task.task_id}`);
      return;
    }
    try {
      await this.call(method, request);
      console.log(`${method === 'CompleteTask' ? 'completed' : 'failed'} ${task.task_id}`);
    } catch (error) {
      console.log(`refused ${task.task_id} ${error.details || error.message}`);
    }
  }

  async renew() {
    const held = [...this.running.values()];
    const sent = Date.now();
    const reply = await this.call('RenewLeases', {
      worker_id: this.options.workerId,
      leases: held.map(({ task }) => ({ task_id: task.task_id, lease_token: task.lease_token })),
      lease_seconds: this.options.leaseSeconds,
      heartbeat: {
        host: os.hostname(),
        queues: this.options.queues,
        task_types: this.options.types,
        concurrency: this.options.concurrency,
        started_at: { seconds: String(Math.floor(this.started / 1000)), nanos: 0 },
      },
    });
    const renewed = new Set(reply.renewed);
    for (const entry of held) {
      if (renewed.has(entry.task.task_id)) {
        entry.leaseUntil = Math.min(sent + 1000 * this.options.leaseSeconds,
          timestampToMs(reply.lease_expires_at));
      } else {
        entry.abort.abort(); // cancelled, or the lease passed to another worker
      }
    }
  }

  // Renew every third of the lease; stop a handler whose lease would end unrenewed.
  async renewLoop() {
    const period = (1000 * this.options.leaseSeconds) / 3;
    while (!this.finished) {
      await sleep(period);
      try {
        await this.renew();
      } catch (error) {
        console.error(`renewal failed: ${error.details || error.message}`);
      }
      for (const entry of this.running.values()) {
        if (entry.leaseUntil - Date.now() < period / 2) entry.abort.abort();
      }
    }
  }

  async stop(graceSeconds) {
    this.stopping = true;
    if (this.polling) this.polling.cancel();
    const pending = [...this.running.values()];
    const grace = sleep(1000 * graceSeconds).then(() => 'timeout');
    await Promise.race([Promise.all(pending.map((e) => e.done)), grace]);
    const unfinished = [...this.running.values()];
    await Promise.allSettled(unfinished.map((entry) => {
      entry.abort.abort();
      return this.call('ReleaseTask', {
        task_id: entry.task.task_id, lease_token: entry.task.lease_token,
      });
    }));
    this.finished = true;
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', default: process.env.TASKQUEUE_TARGET || 'localhost:50051' },
      token: { type: 'string', default: process.env.TASKQUEUE_TOKEN || '' },
      types: { type: 'string', default: Object.keys(HANDLERS).join(',') },
      queue: { type: 'string', multiple: true, default: ['default'] },
      concurrency: { type: 'string', default: '4' },
      'lease-seconds': { type: 'string', default: '30' },
      'poll-seconds': { type: 'string', default: '10' },
      'worker-id': { type: 'string', default: `${os.hostname()}:${process.pid}:node` },
      grace: { type: 'string', default: '10' },
    },
  });
  const types = values.types.split(',').filter(Boolean);
  const unknown = types.filter((type) => !(type in HANDLERS));
  if (unknown.length) throw new Error(`no handler for ${unknown.join(', ')}`);
  const worker = new NodeWorker({
    target: values.target,
    token: values.token,
    types,
    queues: values.queue,
    concurrency: Number(values.concurrency),
    leaseSeconds: Number(values['lease-seconds']),
    pollSeconds: Number(values['poll-seconds']),
    workerId: values['worker-id'],
  });
  await worker.renew(); // announce at once; a refused token fails here
  console.log(`worker ${values['worker-id']} serving ${types.join(', ')}`);
  let stopped;
  const stopping = new Promise((resolve) => { stopped = resolve; });
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.once(signal, () => { worker.stop(Number(values.grace)).then(stopped); });
  }
  const renewing = worker.renewLoop();
  await Promise.race([worker.leaseLoop().then(() => stopping), stopping]);
  await renewing;
  worker.client.close();
  return 0;
}

main().then((code) => { process.exit(code); }, (error) => {
  const code = error.code !== undefined ? `gRPC status ${error.code}: ` : '';
  console.error(`worker: ${code}${error.details || error.message}`);
  process.exit(69);
});
