#!/usr/bin/env node
// Enqueues one task on a taskqueue server and watches it until it ends, using only the
// shipped contract (proto/taskqueue/v1/taskqueue.proto) and the npm gRPC packages.
//
//   node enqueue_and_watch.js [--target host:port] [--type sleep] [--data '{"seconds": 1}']
//
// Exit code: 0 completed, 1 failed, 2 cancelled, 69 the server could not be reached or
// refused the call (the same codes as the Python `taskqueue watch`).
'use strict';

const path = require('node:path');
const crypto = require('node:crypto');
const { parseArgs } = require('node:util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');

// google/protobuf/struct.proto and timestamp.proto are not on disk: protobufjs (under
// proto-loader) has the well-known types built in, so nothing but npm is needed.
function loadService() {
  const definition = protoLoader.loadSync('taskqueue/v1/taskqueue.proto', {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true, // sets Value.kind to the name of the field that is present
  });
  return grpc.loadPackageDefinition(definition).taskqueue.v1.TaskQueueService;
}

// Struct <-> plain object: JSON task data travels as google.protobuf.Struct.
function toValue(value) {
  if (value === null || value === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
  return { structValue: toStruct(value) };
}

function toStruct(object) {
  const fields = {};
  for (const [key, value] of Object.entries(object)) fields[key] = toValue(value);
  return { fields };
}

function fromValue(value) {
  switch (value.kind) {
    case 'structValue': return fromStruct(value.structValue);
    case 'listValue': return (value.listValue.values || []).map(fromValue);
    case 'stringValue': return value.stringValue;
    case 'numberValue': return value.numberValue;
    case 'boolValue': return value.boolValue;
    default: return null;
  }
}

function fromStruct(struct) {
  const object = {};
  for (const [key, value] of Object.entries((struct && struct.fields) || {})) {
    object[key] = fromValue(value);
  }
  return object;
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
