-- Replaces the limits of a queue (task type '') or of one task type in it.
-- KEYS[1]  <P>limits              limit settings (field '<name>:<type>')
-- ARGV[1]  P, ARGV[2] task type or '', ARGV[3] rate per second, ARGV[4] burst,
-- ARGV[5]  most running, ARGV[6] most running per concurrency key ('' each: no limit)
-- Returns 0.
local task_type = ARGV[2]
local names = {'rate', 'burst', 'running', 'key_running'}
for i, name in ipairs(names) do
  local field = name .. ':' .. task_type
  if ARGV[2 + i] == '' then
    redis.call('HDEL', KEYS[1], field)
  else
    redis.call('HSET', KEYS[1], field, ARGV[2 + i])
  end
end
-- A new rate starts with a full bucket.
redis.call('HDEL', BUCKETS_KEY, task_type .. '|tokens', task_type .. '|at')
if task_type ~= '' then
  -- Keys whose head waits in the ready index follow a lowered per-key limit now; keys at
  -- their old limit follow a raised one as their running tasks end.
  local heads = redis.call('HKEYS', KEY_HEAD_KEY)
  for _, field in ipairs(heads) do
    if string.sub(field, 1, #task_type + 1) == task_type .. '|' then
      refresh_key(task_type, string.sub(field, #task_type + 2))
    end
  end
  wake(task_type)
end
return 0
