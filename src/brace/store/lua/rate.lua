-- brace: one rate-limiter reservation, GCRA on Redis's clock (brace.store.gcra, in Lua).
-- KEYS[1]  the limiter's theoretical arrival time, in microseconds of Redis TIME
-- ARGV     interval (seconds per call), burst (calls), max_wait (seconds)
-- Returns  the wait in seconds, as a string: "0" = go now; above max_wait = refused,
--          nothing reserved, and the value is the time until a call would be allowed.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1]) * 1000000
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3]) * 1000000

local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - burst * interval - now
if wait > max_wait and wait > 0.001 then
  return string.format('%.17g', wait / 1000000)
end
-- The key lives until the bucket is full again: an idle limiter leaves nothing behind.
redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
if wait <= 0.001 then  -- float noise (1e-9 s) must not turn "now" into a tiny wait
  return '0'
end
return string.format('%.17g', wait / 1000000)
