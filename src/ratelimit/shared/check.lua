-- One check of a channel's shared limits: the provider's pause, the conversation's limit and
-- the channel's limit, together, in one round trip, on Redis' clock (so the instances' clocks
-- do not matter). GCRA exactly as governor does it, with the state of each limiter kept as its
-- "theoretical arrival time" (TAT, microseconds) under a key that expires when the limit has
-- fully refilled: a missing key and an expired one mean the same thing.
--
-- KEYS[1] the channel's pause (its TTL is what is left of it)
-- KEYS[2] the conversation's TAT
-- KEYS[3] the channel's TAT
-- ARGV[1], ARGV[2] the conversation's emission interval T and tolerance tau, in microseconds
-- ARGV[3], ARGV[4] the channel's T and tau (T = 0: no such limit)
--   (tau = T * (burst - 1): a send is allowed when now >= TAT - tau; it moves TAT to
--   max(TAT, now) + T)
--
-- Returns {status, wait, conversation_next, channel_next}, in microseconds:
--   status 0: allowed, and taken from both limits
--          1: the channel is paused; wait is what is left of the pause
--          2: the conversation's limit refuses (nothing taken)
--          3: the channel's limit refuses (the conversation's token is spent, as the local
--             limiter does)
--   wait: how long until it may go (0 when allowed)
--   *_next: how long from now until that limit lets the next send through (0: at once), so
--           the caller can refuse sooner checks without asking
-- Redis before 5 replicates scripts verbatim and refuses writes after TIME unless told to
-- replicate the effects instead (the default from Redis 5 on, where this call does nothing).
if redis.replicate_commands then
  redis.replicate_commands()
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

local paused = redis.call('PTTL', KEYS[1])
if paused > 0 then
  return {1, paused * 1000, 0, 0}
end

-- A limiter's state after taking one send, or its wait when it refuses.
local function take(key, t, tau)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then
    tat = now
  end
  local earliest = tat - tau
  if now < earliest then
    return false, earliest - now
  end
  return true, tat + t
end

local function store(key, tat)
  -- Expires when the limit has fully refilled (TAT reached), rounded up to the millisecond.
  redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
end

local function next_after(tat, tau)
  return math.max(tat - tau - now, 0)
end

local conv_t, conv_tau = tonumber(ARGV[1]), tonumber(ARGV[2])
local chan_t, chan_tau = tonumber(ARGV[3]), tonumber(ARGV[4])

local conv_tat, conv_next = nil, 0
if conv_t > 0 then
  local ok, v = take(KEYS[2], conv_t, conv_tau)
  if not ok then
    return {2, v, v, 0}
  end
  conv_tat, conv_next = v, next_after(v, conv_tau)
end

if chan_t > 0 then
  local ok, v = take(KEYS[3], chan_t, chan_tau)
  if not ok then
    if conv_tat then
      store(KEYS[2], conv_tat)
    end
    return {3, v, conv_next, v}
  end
  store(KEYS[3], v)
  if conv_tat then
    store(KEYS[2], conv_tat)
  end
  return {0, 0, conv_next, next_after(v, chan_tau)}
end

if conv_tat then
  store(KEYS[2], conv_tat)
end
return {0, 0, conv_next, 0}
