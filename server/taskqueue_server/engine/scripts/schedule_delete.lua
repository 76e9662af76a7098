-- Deletes a schedule; the tasks it already enqueued are not touched.
-- KEYS[1]  <P>sch:<id>, KEYS[2] <P>schdue, KEYS[3] <P>schall
-- ARGV[1]  P, ARGV[2] schedule id
-- Returns 1, or NOT_FOUND (1).
if redis.call('DEL', KEYS[1]) == 0 then
  return fail_with(1, 'SCHEDULE_NOT_FOUND', "schedule '" .. ARGV[2] .. "' not found")
end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
return 1
