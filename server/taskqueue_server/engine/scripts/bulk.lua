-- Acts on the tasks matching a filter within one bounded chunk of an index, in id
-- (creation) order, so a million matches take many short calls and never block Redis.
-- The chunk is checked first, then changed, so a refused confirmation changes nothing.
-- KEYS[1]  <P>seq                 sequence counter (names the slot; retry takes numbers)
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] task retention (s), ARGV[4] action: 'count',
-- 'delete', 'cancel' or 'retry', ARGV[5] status, ARGV[6] task type ('' for any),
-- ARGV[7] label name and ARGV[8] value ('' name: walk the status index, else that
-- label's index), ARGV[9] and ARGV[10] ZRANGEBYLEX bounds of the chunk, ARGV[11] most
-- index entries to look at, ARGV[12] the match count the caller confirms (-1: none)
-- Returns {tasks matched (and acted on), the last id looked at, or '' when the range is
-- exhausted}; FAILED_PRECONDITION when the confirmed count differs.
local now, ttl, action, status, task_type = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local limit, expected = tonumber(ARGV[11]), tonumber(ARGV[12])
local key = ARGV[7] == '' and status_key(status) or label_key(ARGV[7], ARGV[8])
local ids = redis.call('ZRANGEBYLEX', key, ARGV[9], ARGV[10], 'LIMIT', 0, limit)
local matches = {}
for _, id in ipairs(ids) do
  local h = redis.call('HMGET', task_key(id), 'status', 'type', 'priority', 'idem')
  if h[1] == status and (task_type == '' or h[2] == task_type) then
    matches[#matches + 1] = {id, h}
  end
end
if expected >= 0 and expected ~= #matches then
  return fail_with(3, 'COUNT_MISMATCH', #matches .. ' tasks match now, not the ' .. expected ..
    ' confirmed; nothing was changed (count again with dry_run)')
end
for _, m in ipairs(matches) do
  local id, h = m[1], m[2]
  if action == 'delete' then
    remove_task(id, status, h[2], now, ttl)
  elseif action == 'cancel' then
    cancel_task(id, status, h[2], now, ttl, nil)
  elseif action == 'retry' then
    requeue(id, status, h[2], h[3], h[4], now, KEYS[1])
  end
end
if #ids < limit then return {#matches, ''} end
return {#matches, ids[#ids]}
