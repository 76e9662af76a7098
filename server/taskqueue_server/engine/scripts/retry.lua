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
-- Live again: nothing of it may expire while it waits.
redis.call('PERSIST', key)
redis.call('PERSIST', data_key(id))
redis.call('PERSIST', deps_key(id))
if h[4] and h[4] ~= '' then redis.call('PERSIST', idem_key(h[4])) end
redis.call('DEL', result_key(id))
redis.call('ZREM', EXPIRY_KEY, id)
-- A fresh sequence number: the requeued task goes behind work already waiting.
local seq = redis.call('INCR', KEYS[1])
set_status(id, h[2], status, 'pending', now, {'attempts', 0, 'redeliveries', 0,
  'finished', 0, 'error', '', 'progress', 0, 'progress_msg', '', 'seq', seq, 'run_at', now})
make_ready(id, h[2], h[3], seq)
return task_reply(id)
