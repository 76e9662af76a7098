-- Extends the leases a worker holds, all in one call.
-- KEYS[1]  <P>lease
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] lease (ms), ARGV[4..] id, token pairs
-- Returns the positions (1-based, in pair order) of leases that are lost: cancelled,
-- reclaimed, taken by a newer claim, or past their deadline. Their handlers should stop.
local deadline = tonumber(ARGV[2]) + tonumber(ARGV[3])
local lost = {}
for i = 4, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local h = redis.call('HMGET', task_key(id), 'status', 'token')
  local deadline_now = tonumber(redis.call('ZSCORE', KEYS[1], id) or '0')
  -- A lease already past its deadline is not revived, even if no timer reclaimed it yet.
  if h[1] == 'processing' and h[2] == token and deadline_now >= tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[1], 'XX', deadline, id)
  else
    lost[#lost + 1] = (i - 2) / 2
  end
end
return lost
