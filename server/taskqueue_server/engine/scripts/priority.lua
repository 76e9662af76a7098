-- Changes a task's priority. A pending task moves in the ready order at once, keeping its
-- place among tasks of its new priority (same sequence number); a scheduled, retrying or
-- waiting one takes the new priority when it becomes ready.
-- KEYS[1]  <P>seq                 sequence counter (names the slot)
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] id, ARGV[4] new priority
-- Returns the task (task_reply); NOT_FOUND, or FAILED_PRECONDITION once it runs or ended.
local now, id, priority = ARGV[2], ARGV[3], ARGV[4]
local key = task_key(id)
local h = redis.call('HMGET', key, 'status', 'type', 'seq')
local status = h[1]
if not status then return fail_with(1, 'TASK_NOT_FOUND', 'task ' .. id .. ' not found (unknown or expired)') end
if status == 'processing' or TERMINAL[status] then
  return fail_with(3, status == 'processing' and 'TASK_RUNNING' or 'TASK_TERMINAL', 'task ' .. id .. ' is ' .. status ..
    '; the priority of a task can change only before it runs')
end
if status == 'pending' then
  -- Through the ready helpers, so a keyed task moves in its key's index too.
  unready(id, h[2])
  make_ready(id, h[2], priority, h[3])
end
local version = redis.call('HINCRBY', key, 'version', 1)
redis.call('HSET', key, 'priority', priority, 'updated', now)
redis.call(PUBLISH, events_channel(id), cjson.encode(
  {version = version, status = status, updated = now, priority = priority}))
return task_reply(id)
