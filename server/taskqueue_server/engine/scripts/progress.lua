-- Stores a running task's progress and publishes it to watchers.
-- KEYS[1]  <P>lease
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] id, ARGV[4] token, ARGV[5] progress, ARGV[6] message
-- Returns 1, or the STALE_LEASE error when the lease is no longer the caller's.
local id, token = ARGV[3], ARGV[4]
local key = task_key(id)
local h = redis.call('HMGET', key, 'status', 'token')
if h[1] ~= 'processing' or h[2] ~= token then
  return fail_with(4, 'STALE_LEASE', 'lease on task ' .. id .. ' is no longer held')
end
local version = redis.call('HINCRBY', key, 'version', 1)
redis.call('HSET', key, 'progress', ARGV[5], 'progress_msg', ARGV[6], 'updated', ARGV[2])
redis.call(PUBLISH, events_channel(id), cjson.encode(
  {version = version, progress = ARGV[5], progress_msg = ARGV[6], updated = ARGV[2]}))
return 1
