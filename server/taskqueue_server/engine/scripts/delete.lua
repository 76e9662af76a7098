-- Deletes a task that is not running, with its data, result and index entries.
-- KEYS[1]  <P>seq                 sequence counter (names the slot)
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] task retention (s, for dependents it cancels),
-- ARGV[4]  id
-- Returns the status the task had; NOT_FOUND, or FAILED_PRECONDITION while it runs.
local now, ttl, id = ARGV[2], ARGV[3], ARGV[4]
local h = redis.call('HMGET', task_key(id), 'status', 'type')
local status = h[1]
if not status then return fail_with(1, 'TASK_NOT_FOUND', 'task ' .. id .. ' not found (unknown or expired)') end
if status == 'processing' then
  return fail_with(3, 'TASK_RUNNING', 'task ' .. id .. ' is running; cancel it first, or wait for it to end')
end
remove_task(id, status, h[2], now, ttl)
return status
