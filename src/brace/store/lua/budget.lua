-- brace: one retry budget's shared counts (see brace/store/_redis_budget.py).
--
-- KEYS[1]  hash: first attempts "d<k>" and retries "r<k>" per time bucket k
-- KEYS[2]  hash: the processes sharing the budget, token -> "expiry claim weight"
-- ARGV[1]  JSON: d, r (counts since the caller's last sync), bucket (µs), buckets,
--          ratio, reserve, token, proc_us (how long a silent process counts), ttl (ms)
-- Returns  JSON: D, R (the fleet's counts in the window), P (processes), claim: the retries
--          the caller may take until its next sync: its share, in whole retries, of what
--          the fleet has left.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local a = cjson.decode(ARGV[1])
local bkey, pkey = KEYS[1], KEYS[2]

local head = math.floor(now / a.bucket)
if a.d > 0 then redis.call('HINCRBY', bkey, 'd' .. head, a.d) end
if a.r > 0 then redis.call('HINCRBY', bkey, 'r' .. head, a.r) end
local D, R = 0, 0
local raw = redis.call('HGETALL', bkey)
for i = 1, #raw, 2 do
  local kind, k = string.sub(raw[i], 1, 1), tonumber(string.sub(raw[i], 2))
  if k <= head - a.buckets then
    redis.call('HDEL', bkey, raw[i])
  elseif kind == 'd' then
    D = D + tonumber(raw[i + 1])
  else
    R = R + tonumber(raw[i + 1])
  end
end

-- Claims: what each live process may still spend; another's claim is not ours to take.
-- A process's share is weighted by the retries it took in its last interval, plus one:
-- the processes that retry get most of what is left, an idle one keeps a little ready.
local weight = a.r + 1
local live, others, weights = 1, 0, weight
local procs = redis.call('HGETALL', pkey)
for i = 1, #procs, 2 do
  if procs[i] ~= a.token then
    local expiry, claim, w = string.match(procs[i + 1], '(%S+) (%S+) (%S+)')
    if tonumber(expiry) < now then
      redis.call('HDEL', pkey, procs[i])
    else
      live = live + 1
      others = others + tonumber(claim)
      weights = weights + tonumber(w)
    end
  end
end
-- Retries are allowed while R < ratio * D + reserve: `left` more, shared in whole retries.
local left = math.max(0, math.ceil(a.ratio * D + a.reserve - R - 1e-9))
local claim = math.max(0, math.min(left - others, math.ceil(left * weight / weights)))
redis.call('HSET', pkey, a.token, string.format('%.17g %d %d', now + a.proc_us, claim, weight))
redis.call('PEXPIRE', bkey, a.ttl)
redis.call('PEXPIRE', pkey, a.ttl)
return cjson.encode({D = D, R = R, P = live, claim = claim})
