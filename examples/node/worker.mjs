#!/usr/bin/env node
// A taskqueue worker in Node.js: leases tasks over WorkerService, runs them, keeps their
// leases alive (one RenewLeases call per third of the lease, which is also the heartbeat),
// reports progress, completes and fails them, and hands unfinished ones back on SIGTERM.
// Outcomes of tasks that finish together leave in one FinishTasks call, which also leases
// the next tasks for the free slots: a busy worker makes one call per batch, not two per task.
//
//   node worker.mjs [--target host:port] [--token T] [--types node_echo,node_fail]
//                   [--queue default] [--concurrency 4] [--lease-seconds 30] [--grace 10]
//
// Prints one line per outcome ("completed <id>", "failed <id>", "stopped <id>", "refused <id>")
// and one per FinishTasks call ("finished <outcomes> leased <tasks>") so a test can follow
// it; exits 0 after a graceful stop, 69 when the server refuses the worker.
import os from 'node:os';
import { parseArgs } from 'node:util';
import grpc from '@grpc/grpc-js';
import proto from './proto.js';

const { loadProto, toStruct, fromStruct } = proto;

// The handlers: task type -> async (data, ctx) => result object. Throwing fails the attempt;
// an error with `permanent = true` fails the task, one with `retryAfterSeconds` sets the delay,
// and one whose kind (see errorTypes) is in the task's permanent_errors fails it too.
// The names of an error's kinds, most specific first: err.name when set on the error
// itself, the constructor names of its prototype chain (Object left out, as Python leaves out
// object), then an inherited err.name. The server fails the
// task at once when one is in the task's retry policy's permanent_errors (its own, else its
// queue's default); it takes 64 names at most, each 1 to 200 characters.
function errorTypes(error) {
  const names = [];
  const add = (name) => {
    if (typeof name === 'string' && name.length >= 1 && name.length <= 200
        && !names.includes(name) && names.length < 64) names.push(name);
  };
  if (error === null || typeof error !== 'object') return names;
  if (Object.hasOwn(error, 'name')) add(error.name);
  for (let proto = Object.getPrototypeOf(error); proto && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)) {
    add(proto.constructor && proto.constructor.name);
  }
  add(error.name);
  return names;
}

const HANDLERS = {
  async node_echo(data, ctx) {
    await ctx.progress(50, 'halfway');
    return { echo: data, attempt: ctx.attempt, by: 'node' };
  },
  async node_fail(data) {
    const error = new Error(data.message || 'failed on purpose');
    error.permanent = Boolean(data.permanent);
    if (data.name) error.name = data.name;
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
    this.running = new Map(); // task id -> { task, abort, leaseUntil }: every lease held
    this.handling = 0; // handlers running; a finished task's lease is held until reported
    this.asked = 0; // tasks asked for by the long poll under way
    this.outbox = []; // outcomes waiting for the next FinishTasks call
    this.sending = null; // the FinishTasks call under way, if any
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
      const free = options.concurrency - this.handling - this.asked;
      // While outcomes are being sent, their call leases the next tasks (see sendOutcomes).
      if (free <= 0 || this.sending || this.outbox.length) {
        await new Promise((resolve) => { this.slotFreed = resolve; });
        continue;
      }
      let reply;
      this.asked = free;
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
      } finally {
        this.asked = 0;
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
    this.handling += 1;
    const ctx = {
      taskId: task.task_id,
      attempt: task.attempt,
      signal: abort.signal,
      progress: (progress, message = '') => this.call('ReportProgress', {
        task_id: task.task_id, lease_token: task.lease_token, progress, message,
      }),
    };
    entry.done = this.execute(entry, ctx);
  }

  wakeLeaseLoop() {
    if (this.slotFreed) this.slotFreed();
    this.slotFreed = null;
  }

  // Runs the handler and queues its outcome; the lease stays held (and renewed) until the
  // outcome is recorded. Resolves once the outcome's FinishTasks call is over.
  async execute(entry, ctx) {
    const { task } = entry;
    const outcome = { task_id: task.task_id, lease_token: task.lease_token };
    try {
      const result = await HANDLERS[task.task_type](fromStruct(task.task_data), ctx);
      outcome.result = toStruct(result || {});
    } catch (error) {
      outcome.failure = {
        error: String(error.message || error),
        permanent: !!error.permanent,
        error_types: errorTypes(error),
      };
      if (error.retryAfterSeconds !== undefined) {
        outcome.failure.retry_after_seconds = error.retryAfterSeconds;
      }
    }
    this.handling -= 1; // the slot is free once the handler returned
    this.wakeLeaseLoop();
    if (entry.abort.signal.aborted) {
      this.running.delete(task.task_id);
      console.log(`stopped ${task.task_id}`);
      return undefined;
    }
    return new Promise((resolve) => {
      this.outbox.push({ outcome, entry, resolve });
      // Handlers finishing in the same turn share the call: send on the next one.
      if (this.outbox.length === 1 && !this.sending) setImmediate(() => this.sendOutcomes());
    });
  }

  // One FinishTasks call at a time, each with every outcome waiting when it starts.
  async sendOutcomes() {
    if (this.sending || !this.outbox.length) return;
    const batch = this.outbox.splice(0, 1000);
    const room = this.options.concurrency - this.handling - this.asked;
    const free = this.stopping ? 0 : Math.max(0, room);
    this.sending = this.call('FinishTasks', {
      worker_id: this.options.workerId,
      outcomes: batch.map(({ outcome }) => outcome),
      queues: this.options.queues,
      task_types: this.options.types,
      max_tasks: free,
      lease_seconds: this.options.leaseSeconds,
    });
    let reply;
    try {
      reply = await this.sending;
    } catch (error) {
      reply = { error: error.details || error.message };
    }
    this.sending = null;
    const leased = reply.tasks || [];
    console.log(`finished ${batch.length} leased ${leased.length}`);
    if (this.stopping) { // a call sent before the stop: hand its tasks back unrun
      await Promise.allSettled(leased.map((task) => this.release(task)));
    } else {
      for (const task of leased) this.launch(task);
    }
    const refused = new Set(reply.refused || []);
    for (const { outcome, entry, resolve } of batch) {
      this.running.delete(outcome.task_id);
      if (reply.error || refused.has(outcome.task_id)) {
        console.log(`refused ${outcome.task_id} ${reply.error || 'STALE_LEASE'}`);
      } else {
        console.log(`${outcome.result ? 'completed' : 'failed'} ${outcome.task_id}`);
      }
      resolve(entry);
    }
    this.wakeLeaseLoop();
    if (this.outbox.length) this.sendOutcomes();
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
      return this.release(entry.task);
    }));
    this.finished = true;
  }

  release(task) {
    return this.call('ReleaseTask', { task_id: task.task_id, lease_token: task.lease_token });
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
