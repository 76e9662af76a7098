-- Claims up to `count` ready tasks of the given types, best first across types.
-- KEYS[1]  <P>lease               lease index (score: deadline ms)
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] lease (ms), ARGV[4] count, ARGV[5] worker id,
-- ARGV[6..] task types this worker can run
-- Returns a flat list, 7 entries per task: id, token, type, data, attempts, max_retries, timeout.
local now, lease_ms, count, worker = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local deadline = tonumber(now) + lease_ms

-- Candidates: the best `count` of every type, merged by score.
local candidates = {}
for i = 6, #ARGV do
  local task_type = ARGV[i]
  local head = redis.call('ZRANGE', ready_key(task_type), 0, count - 1, 'WITHSCORES')
  for j = 1, #head, 2 do
    candidates[#candidates + 1] = {id = head[j], score = tonumber(head[j + 1]), type = task_type}
  end
end
if #ARGV > 6 then
  table.sort(candidates, function(a, b) return a.score < b.score end)
end

local claimed = {}
for n = 1, math.min(count, #candidates) do
  local c = candidates[n]
  redis.call('ZREM', ready_key(c.type), c.id)
  local key = task_key(c.id)
  local h = redis.call('HMGET', key, 'max_retries', 'timeout', 'status')
  if h[3] == 'pending' then
    local attempts = redis.call('HINCRBY', key, 'attempts', 1)
    local token = redis.call('HINCRBY', key, 'token', 1)
    set_status(c.id, c.type, 'pending', 'processing', now,
      {'started', now, 'worker', worker, 'attempts', attempts})
    redis.call('ZADD', KEYS[1], deadline, c.id)
    local data = redis.call('GET', data_key(c.id))
    local rest = {c.id, token, c.type, data, attempts, h[1], h[2] or '0'}
    for _, v in ipairs(rest) do claimed[#claimed + 1] = v end
  end
end

-- More work left: pass the wake-up on so another idle worker takes it.
for i = 6, #ARGV do
  if redis.call('ZCARD', ready_key(ARGV[i])) > 0 then wake(ARGV[i]) end
end
return claimed
