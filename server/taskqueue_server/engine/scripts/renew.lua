-- Extends the leases a worker holds, all in one call.
-- KEYS[1]  <P>lease
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] lease (ms), ARGV[4..] id, token pairs
-- Returns the positions (1-based, in pair order) of leases that are lost (cancelled, reclaimed or taken by a newer claim):
-- their handlers should stop, since nothing they report will be accepted.
local deadline = tonumber(ARGV[2]) + tonumber(ARGV[3])
local lost = {}
for i = 4, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local h = redis.call('HMGET', task_key(id), 'status', 'token')
  if h[1] == 'processing' and h[2] == token then
    redis.call('ZADD', KEYS[1], 'XX', deadline, id)
  else
    lost[#lost + 1] = (i - 2) / 2
  end
end
return lost
