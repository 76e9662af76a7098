-- Shared by every script (prepended at load time). Every key is built from the queue
-- prefix P = "<prefix>:{<queue>}:" passed as ARGV[1]; all of them share the queue's hash
-- tag, so each script stays in one Redis Cluster slot (KEYS[1], the prefix's counter key,
-- names that slot).
--
-- Status indexes use score 0: ids sort by creation time, so ZRANGEBYLEX pages them exactly.
-- There is no index of all tasks (newest.lua merges the status indexes).
--
-- A task is a hash <P>t:<id>. Its task_data and its result (JSON text) are hash fields
-- `data` and `result` when at most INLINE_MAX bytes, else keys of their own, <P>d:<id> and
-- <P>res:<id>: Redis keeps a hash in its compact listpack encoding only while every value
-- is at most 64 bytes (hash-max-listpack-value), and one longer value makes the whole hash
-- about four times larger; a key of its own costs about 150 bytes more than a field.
-- Hash fields: type status priority max_retries attempts redeliveries created updated
-- run_at started finished error progress progress_msg idem uniq deps deps_left timeout seq
-- token version sched tick (the schedule and tick that made it) expire retry data result.
-- A finished task leaves some out (trim_finished).
local P = ARGV[1]
-- Redis Cluster: scripts.py rewrites this line to SPUBLISH (sharded pub/sub: a message
-- goes to the shard owning the channel's slot, not to every node).
local PUBLISH = 'PUBLISH'
local PRIORITY_SPAN = 4398046511104  -- 2^42: FIFO sequence numbers below, priority above
local INLINE_MAX = 64

-- Every key and channel name, spelled here only (engine/keys.py spells the same for Python;
-- tests/engine/test_scripts.py checks that the two agree).
local function task_key(id) return P .. 't:' .. id end
local function data_key(id) return P .. 'd:' .. id end
local function result_key(id) return P .. 'res:' .. id end
local function ready_key(task_type) return P .. 'r:' .. task_type end
local function wake_key(task_type) return P .. 'w:' .. task_type end
local function status_key(status) return P .. 's:' .. status end
local function deps_key(id) return P .. 'deps:' .. id end
local function idem_key(idem) return P .. 'idem:' .. idem end
local function unique_key(key) return P .. 'uniq:' .. key end
local function events_channel(id) return P .. 'ev:' .. id end
local function label_key(name, value) return P .. 'l:' .. name .. ':' .. value end
-- The ids of the terminal tasks whose retention ends in one second (see retain).
local function expiring_key(second) return P .. 'x:' .. second end
-- A concurrency key's own ready index (its lane), see refresh_key.
local function lane_key(task_type, ck) return P .. 'rk:' .. task_type .. '|' .. ck end
local SCHEDULED_KEY = P .. 'sched'
-- Tasks with an expire_time (score: that deadline, ms).
local DEADLINE_KEY = P .. 'deadline'
local COUNTS_KEY = P .. 'count'
local TOTALS_KEY = P .. 'total'
local LIVE_KEY = P .. 'live'
-- The seconds (score: ms) that have an expiry bucket (see retain).
local EXPIRY_KEY = P .. 'expiry'
local TIMER_CHANNEL = P .. 'timer'
local CANCEL_CHANNEL = P .. 'cancel'
local PAUSED_KEY = P .. 'paused'
local LABEL_EXPIRY_KEY = P .. 'lexpiry'
local SEQ_KEY = P .. 'seq'
local LIMITS_KEY = P .. 'limits'
local BUCKETS_KEY = P .. 'bucket'
local KEY_RUNNING_KEY = P .. 'ckrun'
local KEY_HEAD_KEY = P .. 'ckhead'
local FULL_KEY = P .. 'full'

-- Lower score runs first: priority descending, then sequence (enqueue order) ascending.
-- (1000 - priority) * 2^42 + seq stays below 2^53, so a double holds it exactly.
local function ready_score(priority, seq)
  -- A task of priority 0 has no `priority` field (store leaves it out).
  return (1000 - (tonumber(priority) or 0)) * PRIORITY_SPAN + tonumber(seq)
end

local TERMINAL = {completed = true, failed = true, cancelled = true}

-- Whether a task's idempotency key `idem` has its <P>idem:<key> mapping: not when the key
-- is the suffix of the task's id (engine/ids.py: the clients' keys), so finding the task
-- of the key is reading the task. Such a task's `idem` field is '' (the id says the key;
-- 32 bytes less can move the hash to a smaller allocation).
local function has_idem_key(idem)
  return idem and idem ~= ''
end
-- A task in these has not started: it holds its unique key (<P>uniq:<key> names it).
local NOT_STARTED = {pending = true, scheduled = true, waiting = true}

-- The fields `names` of task `id` into the table `h` by name (false: the hash has none), in
-- one HMGET. Scripts are atomic, so fields a script read once and has not written since need
-- no second read: the helpers below take such a table where their callers read the hash
-- already, and read only what it lacks (nil).
local function read_fields(id, names, h)
  local values = redis.call('HMGET', task_key(id), unpack(names))
  for i, name in ipairs(names) do h[name] = values[i] end
  return h
end

-- The task started or ended without running: the next task with its unique key (its `uniq`
-- field) may be stored. Tied to the status change, so the key never outlives what it guards.
local function free_unique_key(id, uniq)
  if uniq and redis.call('GET', unique_key(uniq)) == id then
    redis.call('DEL', unique_key(uniq))
  end
end

-- Only the servers' BLPOP and LPOP take from a wake list, never a script: one found or made
-- non-empty stays so for the rest of this call, so a call looks at each type's list once
-- (an enqueue of 1,000 tasks wakes with one LLEN, not 1,000).
local woken = {}
local function wake(task_type)
  if woken[task_type] then return end
  woken[task_type] = true
  if redis.call('LLEN', wake_key(task_type)) == 0 then
    redis.call('RPUSH', wake_key(task_type), '1')
  end
end

-- The status counts (<P>count), totals (<P>total) and the live count change on every
-- transition, and one call moves many tasks (an enqueue of 1,000, a finish of 16 and the next
-- claim): their changes are summed here and applied once per field by flush_counts, which
-- runs when the script ends (scripts.py wraps every script so) and before a script reads one
-- it may have changed. Scripts are atomic, so no reader sees the difference. A field summing
-- to 0 is still written (HINCRBY by 0 creates it, as +1 then -1 did).
local count_deltas = {}
local function add_count(key, field, delta)
  local fields = count_deltas[key]
  if not fields then
    fields = {}
    count_deltas[key] = fields
  end
  fields[field] = (fields[field] or 0) + delta
end
local function flush_counts()
  for key, fields in pairs(count_deltas) do
    for field, delta in pairs(fields) do
      if key == LIVE_KEY then
        redis.call('INCRBY', key, delta)
      else
        redis.call('HINCRBY', key, field, delta)
      end
    end
  end
  count_deltas = {}
end

-- Monotonic totals per task type in <P>total (fields "<name>|<type>"); unlike the status
-- counts in <P>count they never go down, so monitoring can take their rate.
local function count_total(name, task_type)
  add_count(TOTALS_KEY, name .. '|' .. task_type, 1)
end

-- Which total a transition adds to: a new task is enqueued; processing -> retrying (an
-- attempt failed and will run again) and failed/cancelled -> pending (RetryTask) are
-- retried; an end is completed, failed or cancelled. Redelivery is counted in due.lua.
local function total_of(old, new)
  if not old then return 'enqueued' end
  if new == 'retrying' or TERMINAL[old] then return 'retried' end
  if TERMINAL[new] then return new end
  return nil
end

-- Fairness between concurrency keys (docs/limits.md): a keyed task waits in its key's own
-- ready index <P>rk:<type>|<key>; the type's ready index holds only the head of each key
-- that may start a task (<P>ckhead remembers which). When a key's head is claimed its next
-- task enters behind everything already waiting (a fresh sequence number), so keys take
-- turns; priority still orders above that. Every step is O(log n).
local function refresh_key(task_type, ck)
  local field = task_type .. '|' .. ck
  local head_id = redis.call('HGET', KEY_HEAD_KEY, field)
  local head = redis.call('ZRANGE', lane_key(task_type, ck), 0, 0, 'WITHSCORES')
  local limit = tonumber(redis.call('HGET', LIMITS_KEY, 'key_running:' .. task_type))
  local running = tonumber(redis.call('HGET', KEY_RUNNING_KEY, field) or '0')
  if #head == 0 or (limit and running >= limit) then
    if head_id then
      redis.call('ZREM', ready_key(task_type), head_id)
      redis.call('HDEL', KEY_HEAD_KEY, field)
    end
    return
  end
  if head_id == head[1] then return end
  local turn
  if head_id then
    -- A better task of this key arrived: it takes the current head's turn.
    turn = tonumber(redis.call('ZSCORE', ready_key(task_type), head_id) or '0') % PRIORITY_SPAN
    redis.call('ZREM', ready_key(task_type), head_id)
  else
    turn = redis.call('INCR', SEQ_KEY)
  end
  local priority_part = math.floor(tonumber(head[2]) / PRIORITY_SPAN) * PRIORITY_SPAN
  redis.call('ZADD', ready_key(task_type), priority_part + turn, head[1])
  redis.call('HSET', KEY_HEAD_KEY, field, head[1])
  wake(task_type)
end

-- The types this call took out of <P>full (see count_running). Only claim_tasks adds one,
-- and it forgets the type here when it does.
local unfull = {}

-- Keeps the running count of a task's concurrency key `ck` (its `ck` field) as it starts or
-- stops running; the type's own running count is the 'processing|<type>' counter set_status
-- keeps anyway.
local function count_running(task_type, delta, ck)
  if ck then
    local field = task_type .. '|' .. ck
    if redis.call('HINCRBY', KEY_RUNNING_KEY, field, delta) <= 0 then
      redis.call('HDEL', KEY_RUNNING_KEY, field)
    end
    refresh_key(task_type, ck)
  end
  -- A slot freed for a type a claim found at its concurrency limit (<P>full): its idle
  -- workers may take the next task. Once out of the set, a type stays out for the rest of
  -- this call unless claim_tasks puts it back, so a finish of many tasks removes it once.
  if delta < 0 and not unfull[task_type] then
    unfull[task_type] = true
    if redis.call('SREM', FULL_KEY, task_type) == 1 then wake(task_type) end
  end
end

-- A finished task is kept for its retention (about 20,000 of them in issue 16's run), so
-- its hash leaves out what it no longer needs or what reads the same from other fields
-- (engine/codec.py): `seq` (orders ready tasks only; retry.lua gives a new one), an empty
-- `error`, `updated` equal to `finished`, `run_at` equal to `created`. The 55 bytes less
-- move the hash of a small finished task from a 320-byte listpack allocation to 256. A
-- completed task also drops `worker` (no API shows it; it went out with the `processing`
-- event), which with priority 0 left out at enqueue takes it to 224. A failed or cancelled
-- one keeps it: who ran it is what an operator looks for in a failure.
-- `h` holds its `run_at` and `created` as read before the status change, which sets neither.
local function trim_finished(key, event, h)
  local gone = {'seq'}
  if event.status == 'completed' then gone[#gone + 1] = 'worker' end
  if event.error == '' then gone[#gone + 1] = 'error' end
  if event.finished == event.updated then gone[#gone + 1] = 'updated' end
  if h.run_at == h.created then gone[#gone + 1] = 'run_at' end
  redis.call('HDEL', key, unpack(gone))
end

-- Moves a task to a new status: status index, counters, totals, version and the event
-- watchers follow, all here so no transition can forget one of them. `fields` is a flat list of
-- further field/value pairs to set with the status; `result`, when given, goes out with
-- the event only (it is stored under its own key), so a waiting GetResult needs no re-read.
-- Optional: `h`, the task's fields the caller read already (see read_fields; this reads the
-- rest of `version`, `uniq`, `ck`, `run_at` and `created` it needs in one HMGET), and
-- `quiet`, more field/value pairs written in the same HSET but left out of the event (a new
-- task's own fields, a claim's fencing token).
local function set_status(id, task_type, old, new, now, fields, result, h, quiet)
  local key = task_key(id)
  local frees_unique = old and NOT_STARTED[old] and not NOT_STARTED[new]
  local running = 0
  if new == 'processing' and old ~= 'processing' then
    running = 1
  elseif old == 'processing' and new ~= 'processing' then
    running = -1
  end
  h = h or {}
  local names = {}
  if h.version == nil then names[#names + 1] = 'version' end
  if frees_unique and h.uniq == nil then names[#names + 1] = 'uniq' end
  if running ~= 0 and h.ck == nil then names[#names + 1] = 'ck' end
  if TERMINAL[new] and h.run_at == nil then names[#names + 1] = 'run_at' end
  if TERMINAL[new] and h.created == nil then names[#names + 1] = 'created' end
  if #names > 0 then read_fields(id, names, h) end
  if old then
    redis.call('ZREM', status_key(old), id)
    add_count(COUNTS_KEY, old .. '|' .. task_type, -1)
  end
  redis.call('ZADD', status_key(new), 0, id)
  add_count(COUNTS_KEY, new .. '|' .. task_type, 1)
  local total = total_of(old, new)
  if total then count_total(total, task_type) end
  if frees_unique then free_unique_key(id, h.uniq) end
  local was_live = old and not TERMINAL[old]
  local is_live = not TERMINAL[new]
  if is_live and not was_live then
    add_count(LIVE_KEY, '', 1)
  elseif was_live and not is_live then
    add_count(LIVE_KEY, '', -1)
  end
  if running ~= 0 then count_running(task_type, running, h.ck) end
  -- What HINCRBY would give: a missing field counts as 0.
  local version = tonumber(h.version or '0') + 1
  local event = {version = version, status = new, updated = now, result = result}
  local args = {'status', new, 'updated', now}
  for i = 1, #fields, 2 do
    args[#args + 1] = fields[i]
    args[#args + 1] = fields[i + 1]
    event[fields[i]] = fields[i + 1]
  end
  for _, v in ipairs(quiet or {}) do args[#args + 1] = v end
  args[#args + 1] = 'version'
  args[#args + 1] = version
  redis.call('HSET', key, unpack(args))
  if TERMINAL[new] then trim_finished(key, event, h) end
  -- A new task's event would reach no one: a watch or a waiting GetResult reads the task
  -- before it waits, so it cannot start before the task exists, and an Enqueue that waits
  -- starts from the task as stored (engine/enqueue_wait.py). Skipping it saves the JSON and
  -- the PUBLISH per task of a batch enqueue (about 6 % of the script's time).
  if old then redis.call(PUBLISH, events_channel(id), cjson.encode(event)) end
end

-- A task's indexed labels as <P>lexpiry members: "<id> <name>:<value>" (ids hold no space),
-- so the timers can drop index entries of tasks whose retention ran out. `lx` is its `lx`
-- field when read already (false: none).
local function label_expiry_members(id, lx)
  if lx == nil then lx = redis.call('HGET', task_key(id), 'lx') end
  local members = {}
  for _, pair in ipairs(lx and cjson.decode(lx) or {}) do
    members[#members + 1] = id .. ' ' .. pair[1] .. ':' .. pair[2]
  end
  return members
end

-- Remembers that the retention of task `id` ends at `deadline` (ms), so the timers' due
-- script drops its index entries then (end_retention). Tasks are grouped by the second their
-- retention ends in, rounded up so none goes early: a list <P>x:<second> of ids and one
-- <P>expiry entry per second. A list entry costs about 40 bytes where a sorted-set entry per
-- task cost about 145; a list cannot drop one id cheaply, so a retried or deleted task's
-- entry stays and end_retention checks each id when its second comes.
-- A second's list exists only while <P>expiry has the second (due.lua drops the entry once
-- it emptied the list), so only the id that starts a list adds the entry.
local function expire_at(id, deadline)
  local second = math.ceil(tonumber(deadline) / 1000)
  if redis.call('RPUSH', expiring_key(second), id) == 1 then
    redis.call('ZADD', EXPIRY_KEY, second * 1000, second)
  end
end

-- Terminal tasks are kept for the retention period, counted from now. expire_at remembers
-- when, and the timers' due script deletes the task hash, its data key and its index
-- entries then (at most a second late while a server runs): the hash has no TTL of its own,
-- which would cost an entry in Redis' expiry dictionary (about 37 bytes) per finished task.
-- Its rarer keys (dependents, idempotency mapping) get a TTL.
-- Optional `h`: what the caller knows already, so nothing is read twice and no key known
-- not to exist is expired: the task's `idem` and `lx` fields as read_fields reads them and
-- `dependents` (the members of its deps key, read: none means no such key).
local function retain(id, now, ttl, h)
  h = h or {}
  if not h.dependents or #h.dependents > 0 then redis.call('EXPIRE', deps_key(id), ttl) end
  local idem = h.idem
  if idem == nil then idem = redis.call('HGET', task_key(id), 'idem') end
  if has_idem_key(idem) then
    redis.call('EXPIRE', idem_key(idem), ttl)
  end
  expire_at(id, tonumber(now) + tonumber(ttl) * 1000)
  for _, member in ipairs(label_expiry_members(id, h.lx)) do
    redis.call('ZADD', LABEL_EXPIRY_KEY, tonumber(now) + tonumber(ttl) * 1000, member)
  end
end

-- Live again (retry): its label index entries must not expire.
local function keep_labels(id)
  for _, member in ipairs(label_expiry_members(id)) do
    redis.call('ZREM', LABEL_EXPIRY_KEY, member)
  end
end

-- `ck`: the task's `ck` field when read already (false: none).
local function make_ready(id, task_type, priority, seq, ck)
  if ck == nil then ck = redis.call('HGET', task_key(id), 'ck') end
  if ck then
    redis.call('ZADD', lane_key(task_type, ck), ready_score(priority, seq), id)
    refresh_key(task_type, ck)
  else
    redis.call('ZADD', ready_key(task_type), ready_score(priority, seq), id)
    wake(task_type)
  end
end

-- Takes a pending task out of the ready indexes (claimed or cancelled). `ck` as in make_ready.
local function unready(id, task_type, ck)
  redis.call('ZREM', ready_key(task_type), id)
  if ck == nil then ck = redis.call('HGET', task_key(id), 'ck') end
  if ck then
    redis.call('ZREM', lane_key(task_type, ck), id)
    if redis.call('HGET', KEY_HEAD_KEY, task_type .. '|' .. ck) == id then
      redis.call('HDEL', KEY_HEAD_KEY, task_type .. '|' .. ck)
    end
    refresh_key(task_type, ck)
  end
end

-- Ends every task waiting on `root`, and everything waiting on those, as cancelled.
local function cancel_dependents(root, now, ttl)
  local queue, head = {root}, 1
  while head <= #queue do
    local parent = queue[head]
    head = head + 1
    for _, child in ipairs(redis.call('SMEMBERS', deps_key(parent))) do
      local h = redis.call('HMGET', task_key(child), 'status', 'type')
      if h[1] == 'waiting' then
        set_status(child, h[2], 'waiting', 'cancelled', now,
          {'finished', now, 'error', 'dependency ' .. parent .. ' did not complete'})
        retain(child, now, ttl)
        queue[#queue + 1] = child
      end
    end
  end
end

-- A dependency completed: children with nothing else to wait for become runnable.
-- `children`: the members of its deps key when read already.
local function release_dependents(parent, now, children)
  for _, child in ipairs(children or redis.call('SMEMBERS', deps_key(parent))) do
    local key = task_key(child)
    local h = redis.call('HMGET', key, 'status', 'type', 'priority', 'seq', 'run_at')
    if h[1] == 'waiting' and redis.call('HINCRBY', key, 'deps_left', -1) <= 0 then
      if tonumber(h[5]) > tonumber(now) then
        set_status(child, h[2], 'waiting', 'scheduled', now, {})
        redis.call('ZADD', SCHEDULED_KEY, h[5], child)
        redis.call(PUBLISH, TIMER_CHANNEL, h[5])
      else
        set_status(child, h[2], 'waiting', 'pending', now, {})
        make_ready(child, h[2], h[3], h[4])
      end
    end
  end
end

-- Stores one new task `t` (fields as enqueue.lua's ARGV[4] describes, plus `sched` and
-- `tick` for a schedule's task) with its JSON `data`; the one way a task comes to exist.
-- KEYS[1] must be <P>seq, as in every script that stores tasks.
local function store_task(t, data, now, deps_left)
  local seq = redis.call('INCR', KEYS[1])
  local status
  if deps_left > 0 then
    status = 'waiting'
  elseif tonumber(t.run_at) > tonumber(now) then
    status = 'scheduled'
  else
    status = 'pending'
  end
  -- Zero counters (attempts, deps_left) and priority 0 are left out: a missing field reads
  -- as 0 (ready_score, engine/codec.py) and HINCRBY creates it, and every field saved keeps
  -- a backlog smaller. All fields go in set_status's one HSET.
  local f = {'type', t.type, 'max_retries', t.max_retries, 'created', now, 'run_at', t.run_at,
    'seq', seq}
  local function add(name, value)
    f[#f + 1] = name
    f[#f + 1] = value
  end
  if tonumber(t.priority) ~= 0 then add('priority', t.priority) end
  if #data <= INLINE_MAX then
    add('data', data)
  else
    redis.call('SET', data_key(t.id), data)
  end
  if deps_left > 0 then add('deps_left', deps_left) end
  if t.idem ~= '' and t.id == t.kid then
    add('idem', '')
  elseif t.idem ~= '' then
    add('idem', t.idem)
    redis.call('SET', idem_key(t.idem), t.id)
  end
  -- uniq, expire and retry come from Enqueue only (a schedule's task has none of them).
  if t.uniq and t.uniq ~= '' then
    add('uniq', t.uniq)
    redis.call('SET', unique_key(t.uniq), t.id)
  end
  if #t.deps > 0 then add('deps', cjson.encode(t.deps)) end
  if tonumber(t.timeout) > 0 then add('timeout', t.timeout) end
  if t.retry and t.retry ~= '' then add('retry', t.retry) end
  if t.expire and tonumber(t.expire) > 0 then
    add('expire', t.expire)
    redis.call('ZADD', DEADLINE_KEY, t.expire, t.id)
  end
  local ck = false
  if t.ck and t.ck ~= '' then
    ck = t.ck
    add('ck', ck)
  end
  if t.sched then
    add('sched', t.sched)
    add('tick', t.tick)
  end
  if t.labels and t.labels ~= '' then
    add('labels', t.labels)
    if #t.lx > 0 then
      add('lx', cjson.encode(t.lx))
      for _, pair in ipairs(t.lx) do redis.call('ZADD', label_key(pair[1], pair[2]), 0, t.id) end
    end
  end
  -- A new task has no version yet: its id is random or, when it is its idempotency key's,
  -- enqueue.lua stores it only if no task has that id.
  set_status(t.id, t.type, nil, status, now, {}, nil, {version = false}, f)
  if status == 'waiting' then
    for _, dep in ipairs(t.deps) do
      local dep_status = redis.call('HGET', task_key(dep), 'status')
      if dep_status ~= 'completed' then redis.call('SADD', deps_key(dep), t.id) end
    end
  elseif status == 'scheduled' then
    redis.call('ZADD', SCHEDULED_KEY, t.run_at, t.id)
    redis.call(PUBLISH, TIMER_CHANNEL, t.run_at)
  else
    make_ready(t.id, t.type, t.priority, seq, ck)
  end
  return {0, status, now, t.run_at}
end

-- A task as scripts return it: its hash (flat field/value list) and its data when kept
-- apart (else false: the hash's `data` field holds it).
local function task_reply(id)
  return {redis.call('HGETALL', task_key(id)), redis.call('GET', data_key(id))}
end

-- A task's result (JSON text) wherever it is kept (see INLINE_MAX), or false.
local function task_result(id)
  return redis.call('HGET', task_key(id), 'result') or redis.call('GET', result_key(id))
end

-- `reason` is one of errors.py's Reason names: the stable word callers match on.
local function fail_with(code, reason, message)
  return redis.error_reply('TQ' .. code .. ' ' .. reason .. ' ' .. message)
end

-- The results of a task's dependencies as one JSON object (id -> result, null for a result
-- that expired), built from the stored JSON text without decoding it; '' without
-- dependencies, so tasks without any cost no read.
local function dependency_results(deps_json)
  if not deps_json then return '' end
  local parts = {}
  for _, dep in ipairs(cjson.decode(deps_json)) do
    parts[#parts + 1] = cjson.encode(dep) .. ':' .. (task_result(dep) or 'null')
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- Removes a task that is not running, with its data, result and every index entry. A live
-- one leaves its status gauge and the live count, and tasks waiting on it are cancelled;
-- terminal counts are running totals and stay.
local function remove_task(id, status, task_type, now, ttl)
  if status == 'pending' then
    unready(id, task_type)
  elseif status == 'scheduled' or status == 'retrying' then
    redis.call('ZREM', SCHEDULED_KEY, id)
  end
  redis.call('ZREM', status_key(status), id)
  keep_labels(id)
  local lx = redis.call('HGET', task_key(id), 'lx')
  for _, pair in ipairs(lx and cjson.decode(lx) or {}) do
    redis.call('ZREM', label_key(pair[1], pair[2]), id)
  end
  if not TERMINAL[status] then
    add_count(COUNTS_KEY, status .. '|' .. task_type, -1)
    add_count(LIVE_KEY, '', -1)
    cancel_dependents(id, now, ttl)
  end
  local idem = redis.call('HGET', task_key(id), 'idem')
  if has_idem_key(idem) and redis.call('GET', idem_key(idem)) == id then
    redis.call('DEL', idem_key(idem))
  end
  redis.call('DEL', task_key(id), data_key(id), result_key(id), deps_key(id))
end

-- Cancels a live task (cancel.lua, bulk.lua). A running one is signalled on <P>cancel and
-- its lease (in `lease_key`) dropped, so whatever its handler reports afterwards is refused.
local function cancel_task(id, status, task_type, now, ttl, lease_key)
  if status == 'pending' then
    unready(id, task_type)
  elseif status == 'scheduled' or status == 'retrying' then
    redis.call('ZREM', SCHEDULED_KEY, id)
  elseif status == 'processing' then
    redis.call('ZREM', lease_key, id)
    redis.call(PUBLISH, CANCEL_CHANNEL, id)
  end
  set_status(id, task_type, status, 'cancelled', now,
    {'finished', now, 'error', 'cancelled by request'})
  retain(id, now, ttl)
  cancel_dependents(id, now, ttl)
end

-- Puts a failed or cancelled task back in its queue with a fresh retry budget (retry.lua,
-- bulk.lua), behind the work already waiting (a fresh sequence number from `seq_key`).
local function requeue(id, status, task_type, priority, idem, now, seq_key)
  -- Live again: nothing of it may expire while it waits (a hash finished before hashes
  -- had no TTL may still have one).
  redis.call('PERSIST', task_key(id))
  redis.call('PERSIST', data_key(id))
  redis.call('PERSIST', deps_key(id))
  if has_idem_key(idem) then redis.call('PERSIST', idem_key(idem)) end
  redis.call('DEL', result_key(id))
  redis.call('HDEL', task_key(id), 'result')
  keep_labels(id)
  local seq = redis.call('INCR', seq_key)
  set_status(id, task_type, status, 'pending', now, {'attempts', 0, 'redeliveries', 0,
    'finished', 0, 'error', '', 'progress', 0, 'progress_msg', '', 'seq', seq, 'run_at', now})
  make_ready(id, task_type, priority, seq)
end
