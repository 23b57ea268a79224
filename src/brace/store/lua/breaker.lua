-- brace: one circuit breaker's shared state (see brace/store/_redis_breaker.py).
--
-- KEYS[1]  hash: gen, epoch, state, since, till, trips, how, why, streak, done, failed, slow
-- KEYS[2]  hash: the window, one field per time bucket: "calls failures slow"
-- KEYS[3]  hash: HALF_OPEN trial leases, lease id -> expiry (microseconds)
-- ARGV[1]  JSON: the operation ("sync" or "lease") and its facts; see the Python side.
--
-- A phase of the shared state is named by (gen, epoch): gen is drawn when the state is
-- created (a restarted, empty server makes a new one), epoch counts its transitions.
-- Times are microseconds of Redis TIME: the processes' own clocks are not comparable.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local a = cjson.decode(ARGV[1])
local skey, wkey, tkey = KEYS[1], KEYS[2], KEYS[3]
local rule = a.rule

-- open_for of the k-th trip in a row (the last one repeats), in microseconds.
local function open_for(trips)
  return a.open_for[math.min(trips, #a.open_for)]
end

local s = {}
local raw = redis.call('HGETALL', skey)
for i = 1, #raw, 2 do s[raw[i]] = raw[i + 1] end
for _, f in ipairs({'epoch', 'since', 'till', 'trips', 'streak', 'done', 'failed', 'slow'}) do
  s[f] = tonumber(s[f]) or 0
end
local mine = false  -- the resulting phase is the caller's own (its proposal, or its state)

-- A new phase: what every transition does, however it was decided.
local function enter(state, how, why, open_us, trips, own)
  s.epoch = s.epoch + 1
  s.state, s.how, s.why, s.since, s.trips = state, how, why, now, trips
  s.till = 0
  if state == 'OPEN' then s.till = now + open_us end
  s.done, s.failed, s.slow = 0, 0, 0
  redis.call('DEL', tkey)  -- trial leases belong to the phase they were taken in
  if state == 'CLOSED' then
    s.streak = 0
    s.trips = 0
    redis.call('DEL', wkey)
  end
  mine = own
end

local function save()
  redis.call('HSET', skey, 'gen', s.gen, 'epoch', s.epoch, 'state', s.state, 'since', s.since,
    'till', s.till, 'trips', s.trips, 'how', s.how, 'why', s.why, 'streak', s.streak,
    'done', s.done, 'failed', s.failed, 'slow', s.slow)
  for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, a.ttl) end
end

local function reply(extra)
  local r = {gen = s.gen, epoch = s.epoch, state = s.state, since = s.since, till = s.till,
    trips = s.trips, how = s.how, why = s.why, now = now, mine = mine}
  for k, v in pairs(extra or {}) do r[k] = v end
  return cjson.encode(r)
end

-- The caller's local state becomes the shared one when there is none (first use, expiry,
-- or a restarted server): a process re-joins with what it knows.
if not s.gen then
  s.gen = a.gen_new
  enter(a.init.state, 'local', a.init.why, a.init.open, a.init.trips, true)
end

-- The one time-driven move, made by whoever looks first after open_for.
local function due()
  if s.state == 'OPEN' and now >= s.till then
    enter('HALF_OPEN', 'local', 'open_for elapsed', 0, s.trips, false)
  end
end

local function rate_over(failed, slow, calls)
  return failed / calls >= rule.rate or slow / calls >= rule.slow_rate
end

-- ---------------------------------------------------------------------------------------
if a.op == 'lease' then
  -- A HALF_OPEN trial slot for the fleet: at most rule.trials in a phase, counting the
  -- trials finished and the leases alive (a dead holder's lease expires).
  due()
  local granted = 0
  if s.state == 'HALF_OPEN' then
    local leases = redis.call('HGETALL', tkey)
    local live = 0
    for i = 1, #leases, 2 do
      if tonumber(leases[i + 1]) < now then redis.call('HDEL', tkey, leases[i])
      else live = live + 1 end
    end
    if s.done + live < rule.trials then
      redis.call('HSET', tkey, a.id, now + a.lease_us)
      granted = 1
    end
  elseif s.state == 'CLOSED' or s.state == 'DISABLED' then
    granted = 1  -- the fleet moved on: the caller adopts it at its next sync
  end
  save()
  return reply({granted = granted})
end

-- ---------------------------------------------------------------------------------------
-- op == 'sync': the caller's move, trial outcomes and window counts, then the rules.

local cur = s.gen == a.gen and s.epoch == a.epoch
local p = a.prop
if p and (p.manual or (cur and p.state ~= 'HALF_OPEN')) then
  enter(p.state, 'local', p.why, p.open, p.trips, true)
end

if a.trial and s.state == 'HALF_OPEN' and s.gen == a.trial.gen and s.epoch == a.trial.epoch then
  s.done = s.done + a.trial.done
  s.failed = s.failed + a.trial.failed
  s.slow = s.slow + a.trial.slow
end
for _, id in ipairs(a.settled) do redis.call('HDEL', tkey, id) end
for _, id in ipairs(a.renew) do
  if redis.call('HEXISTS', tkey, id) == 1 then redis.call('HSET', tkey, id, now + a.lease_us) end
end

-- The window: buckets of Redis time, newest first. A time window keeps the buckets of its
-- last `seconds`; a count window keeps the newest buckets holding `size` calls (the oldest
-- one counted pro rata) and merges its oldest buckets beyond 64.
local function window(d)
  local w = a.win
  local raw_w = redis.call('HGETALL', wkey)
  local b, keys = {}, {}
  for i = 1, #raw_w, 2 do
    local k = tonumber(raw_w[i])
    local c, f, sl = string.match(raw_w[i + 1], '(%d+) (%d+) (%d+)')
    b[k] = {tonumber(c), tonumber(f), tonumber(sl)}
    keys[#keys + 1] = k
  end
  local head = math.floor(now / w.bucket)
  if not b[head] then
    b[head] = {0, 0, 0}
    keys[#keys + 1] = head
  end
  local h = b[head]
  h[1], h[2], h[3] = h[1] + d[1], h[2] + d[2], h[3] + d[3]
  redis.call('HSET', wkey, head, h[1] .. ' ' .. h[2] .. ' ' .. h[3])
  table.sort(keys, function(x, y) return x > y end)
  local calls, failed, slow = 0, 0, 0
  for i, k in ipairs(keys) do
    local x = b[k]
    if w.kind == 'time' then
      if k > head - w.buckets then
        calls, failed, slow = calls + x[1], failed + x[2], slow + x[3]
      else
        redis.call('HDEL', wkey, k)
      end
    elseif calls >= w.size then
      redis.call('HDEL', wkey, k)
    elseif calls + x[1] <= w.size then
      calls, failed, slow = calls + x[1], failed + x[2], slow + x[3]
    else
      local share = (w.size - calls) / x[1]
      calls, failed, slow = w.size, failed + x[2] * share, slow + x[3] * share
    end
  end
  if w.kind == 'count' and #keys > 64 then
    local last, before = keys[#keys], keys[#keys - 1]
    if b[last] and b[before] and redis.call('HEXISTS', wkey, last) == 1 then
      local x, y = b[last], b[before]
      redis.call('HSET', wkey, before, (x[1] + y[1]) .. ' ' .. (x[2] + y[2]) .. ' ' .. (x[3] + y[3]))
      redis.call('HDEL', wkey, last)
    end
  end
  return calls, failed, slow
end

local d = a.d  -- calls, failed, slow, had a success (0/1), failures since the last success
if s.state == 'CLOSED' and d[1] > 0 then
  if d[4] == 1 then s.streak = d[5] else s.streak = s.streak + d[5] end
  local calls, failed, slow = window(d)
  local trip = false
  if rule.mode == 'streak' then
    trip = s.streak >= rule.streak
  else
    trip = calls >= rule.minimum and rate_over(failed, slow, calls)
  end
  if trip then
    local why = string.format('%.17g %.17g %.17g %d', calls, failed, slow, s.streak)
    enter('OPEN', 'trip', why, open_for(s.trips + 1), s.trips + 1, false)
  end
elseif s.state == 'HALF_OPEN' and (a.trial or p) then
  -- Decide as the rule decides in one process, on the fleet's trial counts.
  local verdict = nil
  if rule.mode == 'streak' and s.failed > 0 then
    verdict = 'OPEN'
  elseif s.done >= rule.trials then
    verdict = 'CLOSED'
    if rule.mode == 'rate' and rate_over(s.failed, s.slow, s.done) then verdict = 'OPEN' end
  end
  if verdict then
    local why = string.format('%d %d %d', s.done, s.failed, s.slow)
    local trips = 0
    if verdict == 'OPEN' then trips = s.trips + 1 end
    enter(verdict, 'verdict', why, open_for(math.max(trips, 1)), trips, false)
  end
end

save()
return reply()
