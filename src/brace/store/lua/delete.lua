-- brace: forget a policy's shared state (every key it has).
for _, k in ipairs(KEYS) do redis.call('DEL', k) end
return 1
