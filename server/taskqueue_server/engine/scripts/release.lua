-- Hands tasks back at shutdown: pending again, the attempt not counted against the budget.
-- KEYS[1]  <P>lease
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3..] id, token pairs
-- Returns the positions (1-based, in pair order) of leases no longer held, left unchanged.
local now = ARGV[2]
local stale = {}
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local key = task_key(id)
  local h = redis.call('HMGET', key, 'status', 'token', 'type', 'priority', 'seq', 'attempts')
  if h[1] == 'processing' and h[2] == token then
    redis.call('ZREM', KEYS[1], id)
    set_status(id, h[3], 'processing', 'pending', now, {'attempts', tonumber(h[6]) - 1})
    make_ready(id, h[3], h[4], h[5])
  else
    stale[#stale + 1] = (i - 1) / 2
  end
end
return stale
