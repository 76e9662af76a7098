-- Creates a schedule, or replaces an existing one's definition (UpdateSchedule); its run
-- history (last run, missed and fired counts) and its paused state are kept on update.
-- KEYS[1]  <P>sch:<id>, KEYS[2] <P>schdue, KEYS[3] <P>schall
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] schedule id, ARGV[4] 'create' or 'update',
-- ARGV[5]  the definition as JSON, ARGV[6] its next run (ms), computed by the caller
-- Returns the schedule hash (flat field/value list); refuses with ALREADY_EXISTS (7) to
-- create an id that exists and NOT_FOUND (1) to update one that does not.
local now, id, mode = ARGV[2], ARGV[3], ARGV[4]
local exists = redis.call('EXISTS', KEYS[1]) == 1
if mode == 'create' and exists then
  return fail_with(7, 'SCHEDULE_EXISTS', "schedule '" .. id .. "' already exists: update or delete it")
end
if mode == 'update' and not exists then
  return fail_with(1, 'SCHEDULE_NOT_FOUND', "schedule '" .. id .. "' not found")
end
if mode == 'create' then
  redis.call('HSET', KEYS[1], 'created', now, 'missed', 0, 'fired', 0, 'paused', 0)
  redis.call('ZADD', KEYS[3], 0, id)
end
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'spec', ARGV[5], 'next', ARGV[6], 'updated', now)
if redis.call('HGET', KEYS[1], 'paused') ~= '1' then
  redis.call('ZADD', KEYS[2], ARGV[6], id)
end
return redis.call('HGETALL', KEYS[1])
