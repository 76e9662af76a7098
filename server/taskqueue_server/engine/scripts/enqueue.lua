-- Stores groups of new tasks; each group is all or nothing, groups are independent (the
-- store coalesces concurrent Enqueue calls of one queue into one call of this script).
-- KEYS[1]  <P>seq                 sequence counter (names the slot)
-- KEYS[2]  <P>lease               lease index, for the hand-off (ARGV[5])
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] max live tasks in the queue (0: no limit)
-- ARGV[4]  JSON: [[{id, type, d (index of its data in ARGV[5..]), priority, max_retries, run_at, idem,
--          uniq, deps, timeout, expire (ms, 0: none), retry (policy JSON text or ''),
--          labels (JSON text or ''), lx ([[name, value], ...] of the labels to index),
--          ck (concurrency key), kid (the id the task has if its idempotency key is its
--          id's suffix, engine/ids.py, else '')}, ...], ...]; fields at their defaults
--          (0, '', [], kid equal to id) may be left out (see with_defaults)
-- ARGV[5]  JSON: [count, lease (ms), worker id, [task types]]: idle slots of the calling
--          server's worker pool (engine.api.HandOff), or '' for none
-- ARGV[6..] each task's data as JSON text, passed apart so it is not escaped twice
-- Returns {replies, claimed}. replies, per group: {0, {per task: {0, status, created, run_at}
--   | {1, <existing task reply>, its id}}} or {code, reason, field, message} when the group
--   was refused (codes and reasons as in errors.py; field is the request field at fault, or
--   ''). claimed: the tasks claimed for the idle slots, as claim.lua returns them.
local now, max_live = ARGV[2], tonumber(ARGV[3])
local groups = cjson.decode(ARGV[4])

-- The engine leaves out fields at their defaults (less JSON for Redis to decode).
local function with_defaults(t)
  t.priority = t.priority or 0
  t.idem = t.idem or ''
  t.kid = t.kid or t.id
  t.uniq = t.uniq or ''
  t.expire = t.expire or 0
  t.retry = t.retry or ''
  t.deps = t.deps or {}
  t.timeout = t.timeout or 0
  t.labels = t.labels or ''
  t.lx = t.lx or {}
  t.ck = t.ck or ''
end
for _, group in ipairs(groups) do
  for _, t in ipairs(group) do with_defaults(t) end
end

-- Checks a group without writing: idempotency hits, dependencies, queue length.
-- A dependency on a task of the same group whose idempotency key matched an existing task
-- is a dependency on that existing task (`alias`), so a flow sent twice does not fork.
local function check(group)
  local plan, in_group, alias, new_count = {}, {}, {}, 0
  for i, t in ipairs(group) do
    local existing = nil
    -- Whether task t.kid exists, once read (nil: not read): the one read of that task says
    -- both whether it is the key's and whether it exists (every task hash has its `type`).
    local kid_exists = nil
    if t.idem ~= '' then
      existing = in_group['idem:' .. t.idem]
      if not existing and t.kid ~= '' then
        local kid = redis.call('HMGET', task_key(t.kid), 'idem', 'type')
        kid_exists = kid[2] ~= false
        if kid[1] == '' then existing = t.kid end
      end
      existing = existing or redis.call('GET', idem_key(t.idem))
      if existing and not in_group[existing] and not (existing == t.kid and kid_exists)
          and redis.call('EXISTS', task_key(existing)) == 0 then
        existing = nil
      end
    end
    -- The unique key is held only while its task has not started (see free_unique_key).
    if not existing and t.uniq ~= '' then
      existing = in_group['uniq:' .. t.uniq] or redis.call('GET', unique_key(t.uniq))
    end
    local starts = math.max(tonumber(now), tonumber(t.run_at))
    if not existing and t.expire > 0 and t.expire <= starts then
      return nil, {2, 'INVALID_FIELD', 'tasks[' .. (i - 1) .. '].expire_time',
                   t.expire .. ' ms (Unix time) is not later than now and than the time '
                   .. 'the task may run (' .. starts .. ' ms): it would expire unstarted'}
    end
    if not existing and t.id == t.kid
        and (kid_exists or (kid_exists == nil and redis.call('EXISTS', task_key(t.id)) == 1)) then
      return nil, {2, 'INVALID_FIELD', 'tasks[' .. (i - 1) .. '].idempotency_key',
                   'key ' .. t.idem .. ' names task ' .. t.id .. ', which has another key; '
                   .. 'use another idempotency key'}
    end
    if existing then
      plan[i] = {dedup = existing}
      alias[t.id] = existing
    else
      local deps_left = 0
      for j, dep in ipairs(t.deps) do
        dep = alias[dep] or dep
        t.deps[j] = dep
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
      if t.uniq ~= '' then in_group['uniq:' .. t.uniq] = t.id end
      new_count = new_count + 1
    end
  end
  if max_live > 0 and new_count > 0 then
    flush_counts()  -- the groups stored before this one counted theirs
    local live = tonumber(redis.call('GET', LIVE_KEY) or '0')
    if live + new_count > max_live then
      return nil, {5, 'QUEUE_FULL', '', 'queue is full: ' .. live .. ' live tasks, limit ' .. max_live}
    end
  end
  return plan
end

local function store(t, deps_left)
  return store_task(t, ARGV[5 + t.d], now, deps_left)
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

-- The hand-off: the caller's idle slots claim now what would otherwise wait for a wake-up
-- and a claim of their own (an ordinary claim: pause, limits, lease and fencing apply, and
-- a type it leaves with nothing ready keeps no wake-up, so no idle worker anywhere wakes
-- only to find nothing).
local claimed = {}
if ARGV[5] ~= '' then
  local offer = cjson.decode(ARGV[5])
  claimed = claim_tasks(KEYS[2], now, offer[2], offer[1], offer[3], offer[4])
end
return {replies, claimed}
