-- Fires one tick of a schedule, only if the schedule still expects it: any number of servers
-- may call this for the same tick and exactly one enqueues. The task is stored by
-- store_task, as enqueue.lua stores one, under the idempotency key "schedule:<id>@<tick>"
-- and with the schedule and tick recorded on it. The caller computed every time here (time
-- zones stay in Python): this script compares and stores them.
-- KEYS[1]  <P>seq, KEYS[2] <P>sch:<id>, KEYS[3] <P>schdue
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] schedule id, ARGV[4] the tick the caller planned from
-- (the schedule's stored next run, ms), ARGV[5] the definition version it read,
-- ARGV[6] next run after this one (ms), ARGV[7] ticks missed (counted, not run),
-- ARGV[8] max live tasks in the queue (0: no limit),
-- ARGV[9] the task to store as JSON, "" when no tick runs (fields as in enqueue.lua, plus
-- sched and tick), ARGV[10] its data (JSON text)
-- Returns {1, task id ("" when none ran)} when this call moved the schedule on, {0, ""} when
-- it had moved on already (fired by another server, changed, paused or deleted).
local now, id, tick = ARGV[2], ARGV[3], ARGV[4]
local h = redis.call('HMGET', KEYS[2], 'next', 'version', 'paused')
if h[1] ~= tick or h[2] ~= ARGV[5] or h[3] ~= '0' then
  return {0, ''}
end
local missed = tonumber(ARGV[7])
local task_id = ''
if ARGV[9] ~= '' then
  local t = cjson.decode(ARGV[9])
  local existing = redis.call('GET', idem_key(t.idem))
  local max_live = tonumber(ARGV[8])
  if existing and redis.call('EXISTS', task_key(existing)) == 1 then
    task_id = existing
  elseif max_live > 0 and tonumber(redis.call('GET', LIVE_KEY) or '0') >= max_live then
    missed = missed + 1  -- the queue is full: this tick cannot run, and is counted
  else
    store_task(t, ARGV[10], now, 0)
    task_id = t.id
  end
  if task_id ~= '' then
    redis.call('HSET', KEYS[2], 'last', t.tick, 'last_task', task_id)
    redis.call('HINCRBY', KEYS[2], 'fired', 1)
  end
end
redis.call('HINCRBY', KEYS[2], 'missed', missed)
redis.call('HSET', KEYS[2], 'next', ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[6], id)
return {1, task_id}
