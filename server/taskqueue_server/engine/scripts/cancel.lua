-- Cancels a live task. A running one is signalled on <P>cancel and its lease dropped, so
-- whatever its handler reports afterwards is refused.
-- KEYS[1]  <P>lease, KEYS[2] <P>sched (passed for the slot; cancel_task derives the rest)
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] task retention (s), ARGV[4] id
-- Returns the task (task_reply) after cancellation; NOT_FOUND or FAILED_PRECONDITION otherwise.
-- Cancelling a cancelled task changes nothing and returns it: clients retry CancelTask when
-- an answer is lost, and the retry must not turn a success into a refusal.
local now, ttl, id = ARGV[2], ARGV[3], ARGV[4]
local key = task_key(id)
local h = redis.call('HMGET', key, 'status', 'type')
local status = h[1]
if not status then return fail_with(1, 'TASK_NOT_FOUND', 'task ' .. id .. ' not found (unknown or expired)') end
if status == 'cancelled' then return task_reply(id) end
if TERMINAL[status] then
  return fail_with(3, 'TASK_TERMINAL', 'task ' .. id .. ' is already ' .. status .. '; only live tasks can be cancelled')
end
cancel_task(id, status, h[2], now, ttl, KEYS[1])
return task_reply(id)
