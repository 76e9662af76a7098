-- Puts a failed or cancelled task back in its queue with a fresh retry budget.
-- KEYS[1]  <P>seq
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] id
-- Returns the task (task_reply); NOT_FOUND or FAILED_PRECONDITION otherwise.
local now, id = ARGV[2], ARGV[3]
local key = task_key(id)
local h = redis.call('HMGET', key, 'status', 'type', 'priority', 'idem')
local status = h[1]
if not status then return fail_with(1, 'TASK_NOT_FOUND', 'task ' .. id .. ' not found (unknown or expired)') end
if status ~= 'failed' and status ~= 'cancelled' then
  return fail_with(3, 'TASK_NOT_RETRYABLE', 'task ' .. id .. ' is ' .. status .. '; only failed or cancelled tasks can be retried')
end
requeue(id, status, h[2], h[3], h[4], now, KEYS[1])
return task_reply(id)
