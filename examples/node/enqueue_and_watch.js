#!/usr/bin/env node
// Enqueues one task on a taskqueue server and watches it until it ends, using only the
// shipped contract (proto/taskqueue/v1/taskqueue.proto) and the npm gRPC packages.
//
//   node enqueue_and_watch.js [--target host:port] [--type sleep] [--data '{"seconds": 1}']
//
// Exit code: 0 completed, 1 failed, 2 cancelled, 69 the server could not be reached or
// refused the call (the same codes as the Python `taskqueue watch`).
'use strict';

const crypto = require('node:crypto');
const { parseArgs } = require('node:util');
const grpc = require('@grpc/grpc-js');
const { loadProto, toStruct, fromStruct } = require('./proto.js');

function loadService() {
  return grpc.loadPackageDefinition(loadProto('taskqueue/v1/taskqueue.proto'))
    .taskqueue.v1.TaskQueueService;
}

// Idempotent calls are retried on UNAVAILABLE; Enqueue too, because it carries a key.
const SERVICE_CONFIG = JSON.stringify({
  methodConfig: [{
    name: [{ service: 'taskqueue.v1.TaskQueueService' }],
    retryPolicy: {
      maxAttempts: 5,
      initialBackoff: '0.25s',
      maxBackoff: '5s',
      backoffMultiplier: 2,
      retryableStatusCodes: ['UNAVAILABLE'],
    },
  }],
});

function call(client, method, request, metadata) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 30_000);
    client[method](request, metadata, { deadline }, (error, response) =>
      (error ? reject(error) : resolve(response)));
  });
}

function statusName(status) {
  return String(status).replace('TASK_STATUS_', '').toLowerCase();
}

function watch(client, taskId, metadata, onTask) {
  return new Promise((resolve, reject) => {
    let last = null;
    const stream = client.WatchTask({ task_id: taskId }, metadata);
    stream.on('data', (response) => {
      last = response.task;
      onTask(last);
    });
    stream.on('error', reject);
    stream.on('end', () => resolve(last));
  });
}

async function main() {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', default: process.env.TASKQUEUE_TARGET || 'localhost:50051' },
      token: { type: 'string', default: process.env.TASKQUEUE_TOKEN || '' },
      type: { type: 'string', default: 'sleep' },
      data: { type: 'string', default: '{"seconds": 1}' },
    },
  });
  const TaskQueueService = loadService();
  const client = new TaskQueueService(values.target, grpc.credentials.createInsecure(), {
    'grpc.service_config': SERVICE_CONFIG,
  });
  const metadata = new grpc.Metadata();
  if (values.token) metadata.set('authorization', `Bearer ${values.token}`);

  const enqueued = await call(client, 'Enqueue', {
    task_type: values.type,
    task_data: toStruct(JSON.parse(values.data)),
    max_retries: 0,
    idempotency_key: crypto.randomUUID(),
  }, metadata);
  console.log(`enqueued ${enqueued.task_id}`);

  const last = await watch(client, enqueued.task_id, metadata, (task) => {
    const message = task.progress_message ? `  ${task.progress_message}` : '';
    console.log(`${statusName(task.status)}  ${task.progress}%${message}`);
  });
  const outcome = await call(client, 'GetResult', { task_id: enqueued.task_id }, metadata);
  const status = statusName(outcome.status);
  if (status === 'completed') {
    console.log(`result ${JSON.stringify(fromStruct(outcome.result))}`);
  } else {
    console.log(`${status}: ${outcome.error}`);
  }
  client.close();
  if (!last) return 69;
  return { completed: 0, failed: 1, cancelled: 2 }[status] ?? 69;
}

main().then((code) => { process.exitCode = code; }, (error) => {
  const code = error.code !== undefined ? `gRPC status ${error.code}: ` : '';
  console.error(`enqueue_and_watch: ${code}${error.details || error.message}`);
  process.exitCode = 69;
});
