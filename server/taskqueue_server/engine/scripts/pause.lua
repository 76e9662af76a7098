-- Pauses or resumes a queue. A paused queue still accepts tasks but claim_tasks hands out
-- none; running tasks finish. Resuming wakes one worker per task type with ready tasks, so
-- idle workers claim at once instead of at their next idle timeout.
-- KEYS[1]  <P>paused              present while the queue is paused (value: since when, ms)
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] '1' to pause, '0' to resume
-- Returns 1 when the state changed, 0 when the queue already was in it.
if ARGV[3] == '1' then
  return redis.call('SET', KEYS[1], ARGV[2], 'NX') and 1 or 0
end
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
local counts = redis.call('HGETALL', COUNTS_KEY)
for i = 1, #counts, 2 do
  local status, task_type = string.match(counts[i], '^([^|]*)|(.*)$')
  if status == 'pending' and tonumber(counts[i + 1]) > 0 then wake(task_type) end
end
return 1
