-- Stores groups of new tasks; each group is all or nothing, groups are independent (the
-- store coalesces concurrent Enqueue calls of one queue into one call of this script).
-- KEYS[1]  <P>seq                 sequence counter (names the slot)
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] max live tasks in the queue (0: no limit)
-- ARGV[4]  JSON: [[{id, type, d (index of its data in ARGV[5..]), priority, max_retries, run_at, idem, deps, timeout}, ...], ...]
-- ARGV[5..] each task's data as JSON text, passed apart so it is not escaped twice
-- Returns, per group: {0, {per task: {0, status, created, run_at} | {1, <existing task reply>, its id}}}
--   or {code, reason, field, message} when the group was refused (codes and reasons as in
--   errors.py; field is the request field at fault, or '').
local now, max_live = ARGV[2], tonumber(ARGV[3])
local groups = cjson.decode(ARGV[4])

-- Checks a group without writing: idempotency hits, dependencies, queue length.
local function check(group)
  local plan, in_group, new_count = {}, {}, 0
  for i, t in ipairs(group) do
    local existing = nil
    if t.idem ~= '' then
      existing = in_group['idem:' .. t.idem] or redis.call('GET', idem_key(t.idem))
      if existing and not in_group[existing] and redis.call('EXISTS', task_key(existing)) == 0 then
        existing = nil
      end
    end
    if existing then
      plan[i] = {dedup = existing}
    else
      local deps_left = 0
      for _, dep in ipairs(t.deps) do
        if not in_group[dep] then
          local status = redis.call('HGET', task_key(dep), 'status')
          if not status then
            return nil, {2, 'DEPENDENCY_NOT_FOUND', 'tasks[' .. (i - 1) .. '].depends_on',
                         'task ' .. dep .. ' not found'}
          end
          if status == 'failed' or status == 'cancelled' then
            return nil, {3, 'DEPENDENCY_FAILED', 'tasks[' .. (i - 1) .. '].depends_on',
                         'task ' .. dep .. ' is ' .. status}
          end
          if status ~= 'completed' then deps_left = deps_left + 1 end
        else
          deps_left = deps_left + 1
        end
      end
      plan[i] = {deps_left = deps_left}
      in_group[t.id] = true
      if t.idem ~= '' then in_group['idem:' .. t.idem] = t.id end
      new_count = new_count + 1
    end
  end
  if max_live > 0 and new_count > 0 then
    local live = tonumber(redis.call('GET', LIVE_KEY) or '0')
    if live + new_count > max_live then
      return nil, {5, 'QUEUE_FULL', '', 'queue is full: ' .. live .. ' live tasks, limit ' .. max_live}
    end
  end
  return plan
end

local function store(t, deps_left)
  local data = ARGV[4 + t.d]
  local seq = redis.call('INCR', KEYS[1])
  local key = task_key(t.id)
  local status
  if deps_left > 0 then
    status = 'waiting'
  elseif tonumber(t.run_at) > tonumber(now) then
    status = 'scheduled'
  else
    status = 'pending'
  end
  redis.call('SET', data_key(t.id), data)
  -- Zero counters (attempts, version, deps_left) are left out: a missing field reads as 0
  -- and HINCRBY creates it, and every field saved keeps a backlog smaller.
  redis.call('HSET', key, 'type', t.type, 'priority', t.priority,
    'max_retries', t.max_retries, 'created', now, 'run_at', t.run_at, 'seq', seq)
  if deps_left > 0 then redis.call('HSET', key, 'deps_left', deps_left) end
  if t.idem ~= '' then
    redis.call('HSET', key, 'idem', t.idem)
    redis.call('SET', idem_key(t.idem), t.id)
  end
  if #t.deps > 0 then redis.call('HSET', key, 'deps', cjson.encode(t.deps)) end
  if tonumber(t.timeout) > 0 then redis.call('HSET', key, 'timeout', t.timeout) end
  redis.call('ZADD', ALL_TASKS_KEY, 0, t.id)
  set_status(t.id, t.type, nil, status, now, {})
  if status == 'waiting' then
    for _, dep in ipairs(t.deps) do
      local dep_status = redis.call('HGET', task_key(dep), 'status')
      if dep_status ~= 'completed' then redis.call('SADD', deps_key(dep), t.id) end
    end
  elseif status == 'scheduled' then
    redis.call('ZADD', SCHEDULED_KEY, t.run_at, t.id)
    redis.call(PUBLISH, TIMER_CHANNEL, t.run_at)
  else
    make_ready(t.id, t.type, t.priority, seq)
  end
  return {0, status, now, t.run_at}
end

local replies = {}
for g, group in ipairs(groups) do
  local plan, refusal = check(group)
  if not plan then
    replies[g] = refusal
  else
    local results = {}
    for i, t in ipairs(group) do
      if plan[i].dedup then
        results[i] = {1, task_reply(plan[i].dedup), plan[i].dedup}
      else
        results[i] = store(t, plan[i].deps_left)
      end
    end
    replies[g] = {0, results}
  end
end
return replies
