-- Claims up to `count` ready tasks of the given types, best first across types.
-- KEYS[1]  <P>lease               lease index (score: deadline ms)
-- ARGV[1]  P, ARGV[2] now (ms), ARGV[3] lease (ms), ARGV[4] count, ARGV[5] worker id,
-- ARGV[6..] task types this worker can run
-- Returns a flat list, 9 entries per task: id, token, type, data, attempts, max_retries, timeout,
-- dependency results (JSON object text, '' when the task has no dependencies), retry policy
-- (JSON text, '' when the task has none).
return claim_tasks(KEYS[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5],
  {unpack(ARGV, 6)})
