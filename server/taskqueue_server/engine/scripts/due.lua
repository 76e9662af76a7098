-- The timers' one call: promotes due scheduled and retrying tasks, and hands back tasks
-- whose lease expired (worker died or hung) without spending their retry budget. A task
-- whose worker was lost more than the redelivery cap allows ends failed as poison. Last, it
-- deletes the terminal tasks whose retention ran out, with their index entries (status and
-- label indexes).
-- First of all, tasks that have not started by their expire_time end cancelled, so none of them
-- is promoted or run.
-- KEYS[1]  <P>sched, KEYS[2] <P>lease
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] most tasks to move per index, ARGV[4] redelivery cap,
-- ARGV[5]  task retention (s), ARGV[6] result retention (s)
-- Returns {ms until the next due item or -1 when nothing waits, promoted, reclaimed,
-- index entries dropped, expired}.
local now, limit, cap, ttl = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local result_ttl = tonumber(ARGV[6])

local expired = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', DEADLINE_KEY, '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('ZREM', DEADLINE_KEY, id)
  local h = redis.call('HMGET', task_key(id), 'status', 'type')
  if NOT_STARTED[h[1]] then
    redis.call('ZREM', ready_key(h[2]), id)
    redis.call('ZREM', KEYS[1], id)
    set_status(id, h[2], h[1], 'cancelled', now,
      {'finished', now, 'error', 'expired before it started'})
    retain(id, now, ttl)
    cancel_dependents(id, now, ttl)
    expired = expired + 1
  end
end

local promoted = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('ZREM', KEYS[1], id)
  local h = redis.call('HMGET', task_key(id), 'status', 'type', 'priority', 'seq')
  if string.sub(id, 1, 1) == '~' then
    wake(string.sub(id, 2))  -- a rate-limited type's next token is due (claim_tasks)
  elseif h[1] == 'scheduled' or h[1] == 'retrying' then
    set_status(id, h[2], h[1], 'pending', now, {})
    make_ready(id, h[2], h[3], h[4])
    promoted = promoted + 1
  end
end

local reclaimed = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('ZREM', KEYS[2], id)
  local key = task_key(id)
  local h = redis.call('HMGET', key, 'status', 'type', 'priority', 'seq', 'attempts',
    'redeliveries')
  if h[1] == 'processing' then
    local redeliveries = tonumber(h[6] or '0') + 1
    -- Bump the token so the lost worker's late report is refused.
    redis.call('HINCRBY', key, 'token', 1)
    if redeliveries > cap then
      set_status(id, h[2], 'processing', 'failed', now, {'finished', now,
        'attempts', tonumber(h[5]) - 1, 'redeliveries', redeliveries,
        'error', 'poison task: its worker was lost ' ..
        redeliveries .. ' times (lease expired); redelivery cap is ' .. cap})
      retain(id, now, ttl)
      cancel_dependents(id, now, ttl)
    else
      count_total('redelivered', h[2])
      set_status(id, h[2], 'processing', 'pending', now,
        {'attempts', tonumber(h[5]) - 1, 'redeliveries', redeliveries})
      make_ready(id, h[2], h[3], h[4])
    end
    reclaimed = reclaimed + 1
  end
end

-- The retention of task `id` ended by its expiry bucket (retain in _lib.lua). The entry may
-- be stale: a task retried since is live (its next end adds an entry) or ended again later
-- (its retention, counted from that end, goes on: the entry moves to that time). A gone task
-- (deleted, or with a TTL from before hashes had none) leaves only its index entries to drop.
local function end_retention(id)
  local key = task_key(id)
  local h = redis.call('HMGET', key, 'status', 'finished', 'result')
  if h[1] and not TERMINAL[h[1]] then return end
  if h[1] then
    local finished = tonumber(h[2]) or 0
    local deadline = finished + tonumber(ttl) * 1000
    if deadline > tonumber(now) then
      expire_at(id, deadline)
      return
    end
    -- A small result is a field of the hash (finish.lua); kept longer than its task, it
    -- moves to a key of its own for the rest of its time.
    local left = finished + result_ttl * 1000 - tonumber(now)
    if h[3] and left > 0 then redis.call('SET', result_key(id), h[3], 'PX', left) end
    redis.call('DEL', key, data_key(id))
  end
  for _, status in ipairs({'completed', 'failed', 'cancelled'}) do
    redis.call('ZREM', status_key(status), id)
  end
end

local dropped = 0
for _, second in ipairs(redis.call('ZRANGEBYSCORE', EXPIRY_KEY, '-inf', now, 'LIMIT', 0, limit)) do
  if dropped >= limit then break end
  if not tonumber(second) then
    -- Stored before the buckets (an upgrade): the member is the task's id itself.
    redis.call('ZREM', EXPIRY_KEY, second)
    end_retention(second)
    dropped = dropped + 1
  else
    local key = expiring_key(second)
    local ids = redis.call('LRANGE', key, 0, limit - dropped - 1)
    redis.call('LTRIM', key, #ids, -1)
    if redis.call('EXISTS', key) == 0 then redis.call('ZREM', EXPIRY_KEY, second) end
    for _, id in ipairs(ids) do end_retention(id) end
    dropped = dropped + #ids
  end
end

for _, member in ipairs(redis.call('ZRANGEBYSCORE', LABEL_EXPIRY_KEY, '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('ZREM', LABEL_EXPIRY_KEY, member)
  local id, name, value = string.match(member, '^(%S+) ([^:]*):(.*)$')
  redis.call('ZREM', label_key(name, value), id)
end

local next_due = -1
for _, key in ipairs({KEYS[1], KEYS[2], DEADLINE_KEY}) do
  local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #head > 0 then
    local wait = math.max(0, tonumber(head[2]) - tonumber(now))
    if next_due < 0 or wait < next_due then next_due = wait end
  end
end
return {next_due, promoted, reclaimed, dropped, expired}
