-- Shared by every script, after _lib.lua: claiming within the queue's limits (see
-- docs/limits.md), kept apart so each file stays readable.

-- A token bucket (rate per second, burst) on Redis's clock, refilled lazily from the
-- time of its last take. Nil when `scope` has no rate limit. `state` is <P>bucket.
local function bucket(limits, state, scope, now)
  local rate = tonumber(limits['rate:' .. scope])
  if not rate then return nil end
  local burst = tonumber(limits['burst:' .. scope])
  local tokens = tonumber(state[scope .. '|tokens']) or burst
  local at = tonumber(state[scope .. '|at']) or tonumber(now)
  tokens = math.min(burst, tokens + (tonumber(now) - at) * rate / 1000)
  return {tokens = tokens, rate = rate, scope = scope, used = 0}
end

local function as_table(flat)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

-- Every limit that applies to a claim of `types`, read once per claim; nil when none is
-- configured (the common case costs one HGETALL of an empty key). `running` counts the
-- type's tasks running now, kept up to date as this claim starts more.
local function claim_limits(types, now)
  local limits = as_table(redis.call('HGETALL', LIMITS_KEY))
  if next(limits) == nil then return nil end
  local state = as_table(redis.call('HGETALL', BUCKETS_KEY))
  local lim = {buckets = {}, max_running = {}, running = {}}
  lim.buckets[''] = bucket(limits, state, '', now)
  for _, task_type in ipairs(types) do
    lim.buckets[task_type] = bucket(limits, state, task_type, now)
    local k = tonumber(limits['running:' .. task_type])
    if k then
      flush_counts()  -- the finish before this claim changed them
      lim.max_running[task_type] = k
      lim.running[task_type] =
        tonumber(redis.call('HGET', COUNTS_KEY, 'processing|' .. task_type) or '0')
    end
  end
  return lim
end

-- The buckets a task of `task_type` takes a token from: the queue's and its type's.
local function buckets_of(buckets, task_type)
  local found = {}
  if buckets[''] then found[#found + 1] = buckets[''] end
  if buckets[task_type] then found[#found + 1] = buckets[task_type] end
  return found
end

-- What stops `task_type` starting one more task now: 'rate' (an empty bucket), 'running'
-- (its concurrency limit) or nil.
local function stopped_by(lim, task_type)
  for _, b in ipairs(buckets_of(lim.buckets, task_type)) do
    if b.tokens - b.used < 1 then return 'rate' end
  end
  local k = lim.max_running[task_type]
  if k and lim.running[task_type] >= k then return 'running' end
  return nil
end

local function took_one(lim, task_type)
  for _, b in ipairs(buckets_of(lim.buckets, task_type)) do b.used = b.used + 1 end
  if lim.running[task_type] then lim.running[task_type] = lim.running[task_type] + 1 end
end

-- A type stopped by an empty bucket: the timers wake its workers when the next token is
-- due (a '~<type>' entry in <P>sched, see due.lua), so no worker polls meanwhile.
local function wake_at_next_token(buckets, task_type, now)
  local due = tonumber(now)
  for _, b in ipairs(buckets_of(buckets, task_type)) do
    if b.tokens - b.used < 1 then
      due = math.max(due, tonumber(now) + math.ceil((1 - (b.tokens - b.used)) * 1000 / b.rate))
    end
  end
  local marker = '~' .. task_type
  local current = tonumber(redis.call('ZSCORE', SCHEDULED_KEY, marker))
  if not current or current > due then
    redis.call('ZADD', SCHEDULED_KEY, due, marker)
    redis.call(PUBLISH, TIMER_CHANNEL, due)
  end
end

local function settle_buckets(buckets, now)
  for _, b in pairs(buckets) do
    if b.used > 0 then
      redis.call('HSET', BUCKETS_KEY, b.scope .. '|tokens', b.tokens - b.used, b.scope .. '|at', now)
    end
  end
end

-- Claims up to `count` ready tasks of `types`, best first across types, under a lease,
-- within the queue's limits; tasks over a limit stay pending in order.
-- Returns a flat list, 9 entries per task: id, token, type, data, attempts, max_retries,
-- timeout, dependency results (see dependency_results), retry policy (JSON text or '').
local function claim_tasks(lease_key, now, lease_ms, count, worker, types)
  -- A paused queue hands out nothing; resume wakes its workers (pause.lua).
  if redis.call('EXISTS', PAUSED_KEY) == 1 then return {} end
  local deadline = tonumber(now) + lease_ms
  local lim = claim_limits(types, now)
  -- Candidates: the best `count` of every type, merged by score.
  local candidates = {}
  for _, task_type in ipairs(types) do
    local head = redis.call('ZRANGE', ready_key(task_type), 0, count - 1, 'WITHSCORES')
    for j = 1, #head, 2 do
      candidates[#candidates + 1] = {id = head[j], score = tonumber(head[j + 1]), type = task_type}
    end
  end
  if #types > 1 then
    table.sort(candidates, function(a, b) return a.score < b.score end)
  end

  local claimed, taken, blocked = {}, 0, {}
  for _, c in ipairs(candidates) do
    if taken >= count then break end
    if lim and not blocked[c.type] then blocked[c.type] = stopped_by(lim, c.type) end
    if not blocked[c.type] then
      taken = taken + 1
      -- Everything this claim reads of the task, in one HMGET (see read_fields).
      local h = read_fields(c.id, {'status', 'max_retries', 'timeout', 'deps', 'expire', 'retry',
        'attempts', 'token', 'version', 'ck', 'uniq', 'data'}, {})
      unready(c.id, c.type, h.ck)
      -- Past its expire_time it never runs: it is out of the ready index now, and the
      -- timers' due script (DEADLINE_KEY) ends it.
      local expired = h.expire and tonumber(h.expire) <= tonumber(now)
      if h.status == 'pending' and not expired then
        if h.expire then redis.call('ZREM', DEADLINE_KEY, c.id) end
        -- The attempt and the fencing token count up as HINCRBY would, written with the
        -- status in set_status's one HSET.
        local attempts = tonumber(h.attempts or '0') + 1
        local token = tonumber(h.token or '0') + 1
        set_status(c.id, c.type, 'pending', 'processing', now,
          {'started', now, 'worker', worker, 'attempts', attempts}, nil, h, {'token', token})
        redis.call('ZADD', lease_key, deadline, c.id)
        if lim then took_one(lim, c.type) end
        -- Its data: the `data` field, or a key of its own when longer (see INLINE_MAX).
        local data = h.data or redis.call('GET', data_key(c.id))
        local rest = {c.id, token, c.type, data, attempts, h.max_retries, h.timeout or '0',
                      dependency_results(h.deps), h.retry or ''}
        for _, v in ipairs(rest) do claimed[#claimed + 1] = v end
      end
    end
  end
  if lim then settle_buckets(lim.buckets, now) end

  -- More work left: pass the wake-up on so another idle worker takes it, unless a limit
  -- stops the type (then the next token or a finishing task wakes its workers). Nothing
  -- left: a wake-up still listed (an enqueue's, for a task this claim took) would only
  -- wake a worker to find nothing, so it goes.
  for _, task_type in ipairs(types) do
    if redis.call('ZCARD', ready_key(task_type)) == 0 then
      redis.call('DEL', wake_key(task_type))
      woken[task_type] = nil
    else
      if lim and not blocked[task_type] then blocked[task_type] = stopped_by(lim, task_type) end
      if blocked[task_type] == 'rate' then
        wake_at_next_token(lim.buckets, task_type, now)
      elseif blocked[task_type] == 'running' then
        redis.call('SADD', FULL_KEY, task_type)  -- the next task to stop running wakes it
        unfull[task_type] = nil  -- in the set again (see count_running)
      else
        wake(task_type)
      end
    end
  end
  return claimed
end
