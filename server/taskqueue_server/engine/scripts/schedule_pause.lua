-- Pauses a schedule (it leaves the due index, so no server fires it) or resumes it from the
-- next run the caller computed from now: ticks that fell while it was paused are neither
-- run nor counted as missed. Pausing a paused schedule, or resuming a running one, changes
-- nothing.
-- KEYS[1]  <P>sch:<id>, KEYS[2] <P>schdue
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] schedule id, ARGV[4] '1' to pause, '0' to resume,
-- ARGV[5]  next run (ms) when resuming
-- Returns the schedule hash (flat field/value list), or NOT_FOUND (1).
local now, id, pause = ARGV[2], ARGV[3], ARGV[4]
local paused = redis.call('HGET', KEYS[1], 'paused')
if not paused then
  return fail_with(1, 'SCHEDULE_NOT_FOUND', "schedule '" .. id .. "' not found")
end
if paused ~= pause then
  redis.call('HINCRBY', KEYS[1], 'version', 1)
  redis.call('HSET', KEYS[1], 'paused', pause, 'updated', now)
  if pause == '1' then
    redis.call('ZREM', KEYS[2], id)
  else
    redis.call('HSET', KEYS[1], 'next', ARGV[5])
    redis.call('ZADD', KEYS[2], ARGV[5], id)
  end
end
return redis.call('HGETALL', KEYS[1])
