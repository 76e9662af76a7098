-- ListTasks without a status or label filter: the newest ids below a bound from every status
-- index (a task is in exactly one), read at one instant, so a task changing status between
-- two reads is neither missed nor seen twice. There is no index of all tasks: its entry cost
-- about 150 bytes of memory a task, and listing everything is the rare read.
-- KEYS[1]  <P>seq                 sequence counter (names the slot)
-- ARGV[1]  P, ARGV[2] ZREVRANGEBYLEX upper bound, ARGV[3] most ids per index,
-- ARGV[4..] every status
-- Returns the ids found, unsorted: at most ARGV[3] of each index (the caller merges them).
local ids = {}
for i = 4, #ARGV do
  local found = redis.call('ZREVRANGEBYLEX', status_key(ARGV[i]), ARGV[2], '-', 'LIMIT', 0, ARGV[3])
  for _, id in ipairs(found) do ids[#ids + 1] = id end
end
return ids
