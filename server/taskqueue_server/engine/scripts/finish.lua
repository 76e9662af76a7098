-- Records how attempts ended: completed, retrying (after a delay) or failed.
-- KEYS[1]  <P>lease, KEYS[2] <P>sched
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] task retention (s), ARGV[4] result retention (s)
-- ARGV[5]  JSON: [{id, token, result (JSON text) | error, permanent, delay (ms)}, ...]
-- ARGV[6]  how many tasks to claim in the same call (0: none; a busy worker takes its next
-- tasks with the outcomes of its last ones), ARGV[7] lease (ms), ARGV[8] worker id,
-- ARGV[9..] task types this worker can run
-- Returns {positions (1-based) of outcomes refused because the lease was no longer theirs
-- (fencing), claimed tasks as claim.lua returns them}.
local now, task_ttl, result_ttl = ARGV[2], ARGV[3], ARGV[4]
local stale = {}
for position, o in ipairs(cjson.decode(ARGV[5])) do
  -- Everything the outcome needs of the task, in one HMGET: set_status and retain take it
  -- (see read_fields), so none of it is read twice.
  local h = read_fields(o.id, {'status', 'token', 'type', 'attempts', 'max_retries', 'version',
    'ck', 'run_at', 'created', 'idem', 'lx'}, {})
  if h.status ~= 'processing' or h.token ~= tostring(o.token) then
    stale[#stale + 1] = position
  else
    redis.call('ZREM', KEYS[1], o.id)
    if o.error == nil or o.error == '' then
      -- The tasks waiting on this one, read once for retain (no deps key to expire when
      -- there are none) and release_dependents.
      h.dependents = redis.call('SMEMBERS', deps_key(o.id))
      -- A small result is a hash field (see INLINE_MAX) when it may live as long as the
      -- task: the timers' due script moves it to its own key, for the rest of its
      -- (longer) retention, when the task's retention ends.
      if #o.result <= INLINE_MAX and tonumber(result_ttl) >= tonumber(task_ttl) then
        set_status(o.id, h.type, 'processing', 'completed', now,
          {'finished', now, 'error', '', 'result', o.result}, nil, h)
        retain(o.id, now, task_ttl, h)
      else
        redis.call('SET', result_key(o.id), o.result, 'EX', result_ttl)
        set_status(o.id, h.type, 'processing', 'completed', now,
          {'finished', now, 'error', ''}, o.result, h)
        retain(o.id, now, task_ttl, h)
      end
      release_dependents(o.id, now, h.dependents)
    elseif not o.permanent and tonumber(h.attempts) <= tonumber(h.max_retries) then
      local due = tonumber(now) + tonumber(o.delay)
      set_status(o.id, h.type, 'processing', 'retrying', now, {'error', o.error, 'run_at', due},
        nil, h)
      redis.call('ZADD', KEYS[2], due, o.id)
      redis.call(PUBLISH, TIMER_CHANNEL, due)
    else
      set_status(o.id, h.type, 'processing', 'failed', now, {'finished', now, 'error', o.error},
        nil, h)
      retain(o.id, now, task_ttl, h)
      cancel_dependents(o.id, now, task_ttl)
    end
  end
end
local claimed = {}
if tonumber(ARGV[6]) > 0 then
  claimed = claim_tasks(KEYS[1], now, tonumber(ARGV[7]), tonumber(ARGV[6]), ARGV[8],
    {unpack(ARGV, 9)})
end
return {stale, claimed}
