-- Lists live workers and forgets the ones silent too long (3 of their lease periods).
-- KEYS[1]  <prefix>:{workers}:seen  hash: worker id -> heartbeat JSON with "expires" (ms)
-- ARGV[1]  unused (the shared library's prefix), ARGV[2] now (ms)
-- Returns the heartbeat JSON texts of the live workers.
local now = tonumber(ARGV[2])
local live = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ok, beat = pcall(cjson.decode, all[i + 1])
  if ok and type(beat) == 'table' and tonumber(beat.expires) and tonumber(beat.expires) >= now then
    live[#live + 1] = all[i + 1]
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return live
