#!lua name=andon
-- The Andon engine: every state change is one call to a function of this library, so the check of the
-- request id, the check of the current state, the change, its history entry, its event and the stored
-- answer happen atomically. Keys and fields: docs/REDIS.md. Files of worker/lua/ are joined in name order.
--
-- Calling convention: KEYS as each function says; ARGV[1] request id, ARGV[2] op, then the request's
-- fields as name/value pairs. Every function returns {dup, ok, answer, [to, key, value]...}: dup is 1
-- when the request id was already answered (nothing changed, the stored answer comes back), ok 1 or 0,
-- answer the msgpack reply body or error {code, status, message}, then one triple per output (OUT below).
-- Functions validate everything before their first write: Redis does not roll a function back.

-- cmsgpack is reachable only while a function runs, not while the library loads.
-- cmsgpack.pack(a, b, ...) is the packs of a, b, ... back to back.
local function mp_pack(...) return cmsgpack.pack(...) end
local function mp_unpack(s) return cmsgpack.unpack(s) end

-- An answer about an execution that does not exist is kept this long (seconds), then forgotten.
local MISSING_TTL = 7 * 86400

-- Engine statuses. Each API maps them to its own names (its adapter's STATUS table).
local TERMINAL = {STOPPED = true, SUCCEEDED = true, FAILED = true, TIMED_OUT = true, CANCELED = true,
	TERMINATED = true}

local function now_ms()
	local t = redis.call('TIME')
	return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The account the worker says the request acts for (the '@acct' field it appends to every call built
-- from a request; timer calls have none) and whether this call found data of another account. Functions
-- run one at a time, so one table serves every call; fields() resets it at the start of each.
--
-- Retention (docs/REDIS.md, Lifetime): '@ret' is the retention of the request's API in seconds (the worker
-- appends it after '@acct', timer calls included). A change that closes an execution lists its keys in
-- CALL.closing; the stored answer's write then expires them all, the answer hash with them (expire_closed).
-- A call that loads a closed execution names its key in CALL.closed: an answer stored into an answer hash
-- that has no expiry then takes the execution's, so nothing written after the close outlives it.
local CALL = {acct = nil, foreign = false, ret = nil, closing = nil, closed = nil, extra = nil}

local function call_reset(acct, ret)
	CALL.acct, CALL.foreign, CALL.ret = acct, false, tonumber(ret)
	CALL.closing, CALL.closed, CALL.extra = nil, nil, nil
end

local function fields(args)
	local f = {}
	for i = 3, #args - 1, 2 do f[args[i]] = args[i + 1] end
	call_reset(f['@acct'], f['@ret'])
	return f
end

-- Execution e closes now: its keys x, h and the extra keys given (same slot) expire once the answer is
-- stored, after e.ret seconds (a retention stored on the execution, SWF's domain's), else '@ret'. Keys in
-- other slots go out as '@expire' outputs (CALL.extra), which the worker applies. No retention, no expiry.
local function closing(e, ...)
	local ttl = tonumber(e.ret) or CALL.ret
	if not ttl or CALL.foreign then return end
	CALL.closing = {ttl = math.max(ttl, 1), e.x, e.h, ...}
	CALL.closed = nil
end

-- Applies the expiry of what this call closed or found closed to the answer hash r (and the closed keys).
local function expire_closed(r)
	local c = CALL.closing
	if c then
		for i = 1, #c do redis.call('EXPIRE', c[i], c.ttl) end
		redis.call('EXPIRE', r, c.ttl)
		CALL.closing, CALL.closed = nil, c[1]
	elseif CALL.closed and redis.call('TTL', r) == -1 then
		local t = redis.call('PTTL', CALL.closed)
		if t > 0 then redis.call('PEXPIRE', r, t) end
	end
end

-- Defence in depth: true when acct (an execution's or a resource's stored account) is the request's, or
-- either is unknown. Keys are built from the request's own account, so a mismatch means two identities
-- met in one key: the call then treats the data as missing and stores nothing (answer(), fail_missing()).
local function owned(acct)
	if acct and CALL.acct and acct ~= CALL.acct then
		CALL.foreign = true
		return false
	end
	return true
end

-- The request as the functions see it: r is the hash of stored answers, dedup the field its answer is
-- stored under (the request id, unless an API has its own idempotency token).
local function request(rkey, args)
	return {r = rkey, id = args[1], dedup = args[1], op = args[2], f = fields(args)}
end

-- The stored answer when this request was answered before, marked as a duplicate.
local function seen(req)
	local s = redis.call('HGET', req.r, req.dedup)
	if not s then return nil end
	local out = mp_unpack(s)
	table.insert(out, 1, 1)
	return out
end

-- What a change causes besides its reply, as {to, key, value} triples. `to` says where it goes:
--   ''           an event for andon.events (value: the event), key the resource it is about
--   '@requests'  a request for the worker's own request topic (value: the request), key its execution
--   '@timer'     a durable deadline: key the timer member (see timer()), value its due time, epoch ms
--   '@index'     a lookup key the worker SETs: key the Redis key, value the string it holds
--   '@owed'      a callback step was sent a Stopping message and owes an answer: key '<arn>\n<step>', value
--                when (epoch ms); the worker ZADDs it NX to andon:owed (docs/REDIS.md, section 9: metrics)
--   '@answered'  that step answered (or timed out): key '<arn>\n<step>'; the worker ZREMs it
--   '@expire'    a key in another slot that an execution owns, now closed: key the Redis key, value
--                seconds; the worker runs EXPIRE (retention, docs/REDIS.md, Lifetime)
--   '@listed'    an execution's List record (listed()): key its parent (state machine ARN...), value the
--                record; the worker calls andon_ix_put on andon:{<parent>}:ix and :ixs (docs/REDIS.md, 13)
--   any other    a message for that Kafka topic (value: the message)
-- The worker applies the '@' outputs in Redis before producing anything, and stores the request's
-- offset only once all of it is done; a replay re-applies them all (each is idempotent).
local OUT = {EVENT = '', REQUEST = '@requests', TIMER = '@timer', INDEX = '@index', OWED = '@owed',
	ANSWERED = '@answered', EXPIRE = '@expire', LISTED = '@listed'}

-- An output for answer(): value is a table (packed here) or a string (taken as it is).
local function out(to, key, value)
	return {to = to, key = key, value = value}
end

-- An empty msgpack map: cmsgpack packs an empty table as an array, so empty map bodies are given packed.
local EMPTY_MAP = '\128'

-- A msgpack map from a list of {key, value, raw}: value is packed, or taken as it is when raw (a payload
-- the adapter packed once; the engine never turns a caller's payload into a Lua table and back, which
-- would lose empty maps, nils and the difference between 1 and 1.0).
local function pack_map(kv)
	local n = #kv
	local parts = {n < 16 and string.char(0x80 + n) or string.char(0xde, math.floor(n / 256), n % 256)}
	for i = 1, n do
		parts[#parts + 1] = mp_pack(kv[i][1])
		parts[#parts + 1] = kv[i][3] and kv[i][2] or mp_pack(kv[i][2])
	end
	return table.concat(parts)
end

-- A durable deadline firing function fn on the keys x, h, r of andon:{tag}: at ms (epoch), the worker
-- calls fn with request id 'timer\n' .. member (so a deadline fires once however often it is swept) and
-- field 'timer' = member. Members are 'fn\ntag\nrest'; tag and rest never contain a newline.
local function timer(fn, tag, rest, ms)
	return out(OUT.TIMER, fn .. '\n' .. tag .. '\n' .. rest, tostring(ms))
end

-- Stores and returns the answer; body is a table, or a string already packed (an empty map, which
-- cmsgpack would pack as an array); outs mixes events (tables with eventId, from create/transition) and
-- out() triples.
local function answer(req, ok, body, outs)
	local o = {ok and 1 or 0, type(body) == 'string' and body or mp_pack(body)}
	for _, list in ipairs({outs or {}, CALL.extra or {}}) do
		for i = 1, #list do
			local m = list[i]
			if m.eventId then m = out(OUT.EVENT, m.resource, m) end
			o[#o + 1] = m.to
			o[#o + 1] = m.key
			o[#o + 1] = type(m.value) == 'string' and m.value or mp_pack(m.value)
		end
	end
	-- Never write into another account's answers (owned()).
	if not CALL.foreign then
		redis.call('HSET', req.r, req.dedup, mp_pack(o))
		expire_closed(req.r)
	end
	table.insert(o, 1, 0)
	return o
end

local function fail(req, code, status, message)
	return answer(req, false, {code = code, status = status, message = message})
end

-- Like fail, for a missing execution: its answer hash expires unless the execution appears later.
local function fail_missing(req, code, status, message)
	local out = fail(req, code, status, message)
	if not CALL.foreign then redis.call('EXPIRE', req.r, MISSING_TTL) end
	return out
end

-- Compact answers (worker/answer.h): the function returns {dup, ok, fields} and the op's adapter builds the
-- reply and the outputs from the fields. A change stores its fields for replays as 'C' .. msgpack (a
-- stored table answer starts with a msgpack array byte, never 'C'); a request that changed nothing stores
-- nothing when its answer follows from a state that never changes again.
local function answer_compact(req, fields)
	if not CALL.foreign then
		redis.call('HSET', req.r, req.dedup, 'C' .. mp_pack(fields))
		expire_closed(req.r)
	end
	return {0, 1, fields}
end

-- reply (a compact answer's {dup, ok, fields, ...}) with the '@expire' outputs of this call appended.
local function with_extra(reply)
	local x = CALL.extra
	if x then
		for i = 1, #x do
			for _, v in ipairs({x[i].to, x[i].key, x[i].value}) do reply[#reply + 1] = v end
		end
	end
	return reply
end

-- The stored answer of req in either form, as {1, ...}, or nil.
local function seen_any(req)
	local s = redis.call('HGET', req.r, req.dedup)
	if not s then return nil end
	if string.byte(s, 1) == 67 then return {1, 1, mp_unpack(string.sub(s, 2))} end
	local out = mp_unpack(s)
	table.insert(out, 1, 1)
	return out
end

-- Reads answer without storing anything.
local function read(ok, body)
	return {0, ok and 1 or 0, mp_pack(body)}
end

local function read_fail(code, status, message)
	return read(false, {code = code, status = status, message = message})
end

-- Loads the execution model from hash x (history list h) with the extra fields named, or nil.
-- Common fields: svc (API), arn (public identity), st (engine status), ver (bumped by every change),
-- hseq (last history event id), t0/t1 (start/end, epoch ms), acct (the owning account).
-- An execution of another account is nil, as if it did not exist (owned()).
local function load(x, h, ...)
	local names = {'st', 'hseq', 'svc', 'arn', 't0', 't1', 'acct', ...}
	local v = redis.call('HMGET', x, unpack(names))
	if not v[1] or not owned(v[7]) then return nil end
	if TERMINAL[v[1]] then CALL.closed = x end
	local e = {x = x, h = h}
	for i = 1, #names do e[names[i]] = v[i] end
	e.hseq, e.t0, e.t1 = tonumber(e.hseq), tonumber(e.t0), tonumber(e.t1)
	e.ver = e.hseq -- every change appends one history entry, so the version is the last entry's id
	return e
end

-- Creates an execution in status st with its first history entry; returns the event for subscribers.
local function create(x, h, req, svc, arn, st, ms, entry, names, extra)
	entry.id, entry.previousEventId = 1, 0
	redis.call('RPUSH', h, mp_pack(entry))
	local set = {'svc', svc, 'arn', arn, 'st', st, 'hseq', 1, 't0', ms}
	for i = 1, #extra do set[#set + 1] = extra[i] end
	-- Answers stored while the execution did not exist (fail_missing) now last as long as it does, and
	-- 'rq' tells the functions that skip the answer hash on their hot path (sfn_stop) to look there.
	if redis.call('PERSIST', req.r) == 1 then
		set[#set + 1] = 'rq'
		set[#set + 1] = 1
	end
	redis.call('HSET', x, unpack(set))
	return {v = 1, eventId = arn .. '#1', service = svc, resource = arn, status = names[st], time = ms,
		requestId = req.id, historyEventId = 1, account = CALL.acct}
end

-- Moves execution e to status st: appends the history entry, bumps the version, sets the extra
-- fields (a flat name, value list), updates e and returns the event for subscribers.
local function transition(e, req, st, ms, entry, names, extra)
	local hid = e.hseq + 1
	entry.id, entry.previousEventId = hid, e.hseq
	redis.call('RPUSH', e.h, mp_pack(entry))
	local set = {'st', st, 'hseq', hid}
	if TERMINAL[st] then
		-- 'end': the request that ended it, whose answer (and event) can be rebuilt from the final state.
		set[#set + 1] = 't1'
		set[#set + 1] = ms
		set[#set + 1] = 'end'
		set[#set + 1] = req.id
	end
	if extra then
		for i = 1, #extra do set[#set + 1] = extra[i] end
	end
	redis.call('HSET', e.x, unpack(set))
	if TERMINAL[st] then
		closing(e, unpack(e.owns or {}))
		if e.on_close then e.on_close(e) end
	end
	local ev = {v = 1, eventId = e.arn .. '#' .. hid, service = e.svc, resource = e.arn, status = names[st],
		previousStatus = names[e.st], time = ms, requestId = req.id, historyEventId = hid, account = e.acct}
	-- e follows the change, so a function can make several in one call.
	e.st, e.ver, e.hseq = st, hid, hid
	if TERMINAL[st] then e.t1 = ms end
	return ev
end

-- Records something that happened to execution e without changing its status (a step's progress, a
-- cancel request): appends the history entry, bumps the version, and returns the event for subscribers
-- with the fields of ev added.
local function note(e, req, ms, entry, names, ev)
	local hid = e.hseq + 1
	entry.id, entry.previousEventId = hid, e.hseq
	redis.call('RPUSH', e.h, mp_pack(entry))
	redis.call('HSET', e.x, 'hseq', hid)
	e.ver, e.hseq = hid, hid
	ev.v, ev.eventId, ev.service, ev.resource = 1, e.arn .. '#' .. hid, e.svc, e.arn
	ev.status, ev.time, ev.requestId, ev.historyEventId = names[e.st], ms, req.id, hid
	ev.account = e.acct
	return ev
end

-- History entries of list h as a page: {events, nextToken?}; the token is the next index as text.
local function history_page(h, max, reverse, token)
	local start = 0
	if token then
		-- Only the decimal indexes this function hands out; tonumber alone would take 'inf' or '1e20'.
		if not string.match(token, '^%d+$') or #token > 9 then return nil end
		start = tonumber(token)
	end
	local n = redis.call('LLEN', h)
	local items
	if reverse then
		local hi = n - 1 - start
		local lo = math.max(hi - max + 1, 0)
		items = hi >= 0 and redis.call('LRANGE', h, lo, hi) or {}
		local j = #items
		for i = 1, math.floor(j / 2) do items[i], items[j - i + 1] = items[j - i + 1], items[i] end
	else
		items = redis.call('LRANGE', h, start, start + max - 1)
	end
	local events = {}
	for i = 1, #items do events[i] = mp_unpack(items[i]) end
	local page = {events = events}
	if start + #items < n then page.nextToken = tostring(start + #items) end
	return page
end

-- A details table, or nil when it would be empty (msgpack would show an empty array).
local function details(t)
	if next(t) == nil then return nil end
	return t
end

-- List indexes (docs/REDIS.md, section 13). Every execution an API lists is filed under its parent (a
-- state machine...) in two keys of the parent's slot, so a List call reads one slot: andon:{<parent>}:ix, a
-- sorted set of execution identities scored by start (epoch ms), and andon:{<parent>}:ixs, a hash from
-- identity to the record 't0\nhseq\nst\nt1\narn\nname' (t1 '' while running, arn '' when the identity). The execution's own calls
-- cannot write there (another slot): each change returns this output and the worker applies it with
-- andon_ix_put, which keeps the record of the highest hseq, so replays and reordering never go back.
local function listed(parent, member, t0, hseq, st, t1, arn, name)
	-- arn is left empty when it is the identity itself (the common case): memory per execution.
	return out(OUT.LISTED, parent, table.concat({member, t0, hseq, st, t1 or '', arn ~= member and arn or '', name},
		'\n'))
end

-- KEYS: ix, ixs of a parent. ARGV: '<member>\n<record>' as listed() makes it. Returns 1 applied, 0 older.
local function ix_put(keys, args)
	local member, t0, hseq = string.match(args[1], '^([^\n]+)\n(%d+)\n(%d+)\n')
	if not member then return redis.error_reply('ERR malformed list record') end
	local cur = redis.call('HGET', keys[2], member)
	if cur and tonumber(string.match(cur, '^%d+\n(%d+)\n') or '0') >= tonumber(hseq) then return 0 end
	redis.call('ZADD', keys[1], t0, member)
	redis.call('HSET', keys[2], member, string.sub(args[1], #member + 2))
	return 1
end

local function hex(s)
	return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end))
end

local function unhex(s)
	if #s % 2 == 1 or string.find(s, '[^0-9a-f]') then return nil end
	return (string.gsub(s, '..', function(h) return string.char(tonumber(h, 16)) end))
end

-- Index entries one List call looks at, at most: a filter that matches few executions answers a short page
-- with a nextToken rather than scanning a whole index in one call (Redis runs one call at a time).
local LIST_SCAN = 500

-- The List output of execution hash x as it is now, or nil when x is not filed under a parent ('ix', set at
-- creation by the APIs that list this way). member: its identity in the index (default the tag of x,
-- 'andon:{<identity>}:x'). A replay may send it again: andon_ix_put keeps the newest.
local function listed_of(x, member)
	local v = redis.call('HMGET', x, 'ix', 't0', 'hseq', 'st', 't1', 'arn', 'name')
	if not v[1] then return nil end
	return listed(v[1], member or string.sub(x, 8, -4), v[2], v[3], v[4], v[5], v[6], v[7] or '')
end

-- Appends the triple of output o (nil: nothing) to a reply array.
local function add_out(reply, o)
	if o then
		reply[#reply + 1] = o.to
		reply[#reply + 1] = o.key
		reply[#reply + 1] = o.value
	end
	return reply
end

-- One page of parent index ix/ixs. q: {max, token?, asc (oldest first; default newest first), from?, to?
-- (start bounds, epoch ms, inclusive), retain (ms; 0: never)}. The token (opaque: hex of 'score\nmember'
-- of the last entry looked at) continues after that entry even when executions were filed since.
-- keep(member, r) returns the page item for record r ({t0, hseq, st, t1, arn, name}; numbers as numbers,
-- t1 nil while running) or nil to skip it. An execution closed more than retain ms ago is one whose data
-- retention has removed: it is skipped and its entry pruned. Returns items, nextToken?; nil on a bad token.
local function list_page(ix, ixs, q, keep)
	local max, asc, retain = q.max, q.asc, q.retain or 0
	local range = asc and 'ZRANGE' or 'ZREVRANGE'
	-- Entries before the first in bounds, in this direction.
	local pos = 0
	if asc and q.from then pos = redis.call('ZCOUNT', ix, '-inf', '(' .. q.from) end
	if not asc and q.to then pos = redis.call('ZCOUNT', ix, '(' .. q.to, '+inf') end
	if q.token then
		local t = #q.token <= 32768 and unhex(q.token)
		if not t then return nil end
		local score, member = string.match(t, '^(%d+)\n([^\n]+)$')
		if not score then return nil end
		local r = redis.call(asc and 'ZRANK' or 'ZREVRANK', ix, member)
		if r then
			pos = r + 1
		else
			-- Pruned since: after every entry before its score, and after its ties ordered before it.
			pos = asc and redis.call('ZCOUNT', ix, '-inf', '(' .. score) or
				redis.call('ZCOUNT', ix, '(' .. score, '+inf')
			local ties = redis.call('ZRANGE', ix, score, score, 'BYSCORE')
			for i = 1, #ties do
				if (asc and ties[i] < member) or (not asc and ties[i] > member) then pos = pos + 1 end
			end
		end
	end
	local items, gone, scanned, last = {}, {}, 0, nil
	local now = retain > 0 and now_ms() or 0
	while #items < max and scanned < LIST_SCAN do
		local n = math.min(100, LIST_SCAN - scanned)
		local batch = redis.call(range, ix, pos, pos + n - 1, 'WITHSCORES')
		local members, ended = {}, #batch < 2 * n
		for i = 1, #batch, 2 do
			local sc = tonumber(batch[i + 1])
			-- Past the far bound: nothing further in this direction is in bounds.
			if (asc and q.to and sc > q.to) or (not asc and q.from and sc < q.from) then
				ended = true
				break
			end
			members[#members + 1] = batch[i]
		end
		local recs = #members > 0 and redis.call('HMGET', ixs, unpack(members)) or {}
		local stopped = false
		for i = 1, #members do
			if #items >= max then
				stopped = true
				break
			end
			scanned, pos, last = scanned + 1, pos + 1, batch[2 * i] .. '\n' .. members[i]
			local t0, hseq, st, t1, arn, name = string.match(recs[i] or '',
				'^(%d+)\n(%d+)\n([^\n]*)\n(%d*)\n([^\n]*)\n(.*)$')
			if not t0 or (retain > 0 and t1 ~= '' and tonumber(t1) + retain < now) then
				gone[#gone + 1] = members[i]
			else
				local item = keep(members[i], {t0 = tonumber(t0), hseq = tonumber(hseq), st = st,
					t1 = t1 ~= '' and tonumber(t1) or nil, arn = arn ~= '' and arn or members[i], name = name})
				if item then items[#items + 1] = item end
			end
		end
		-- Every entry in bounds was looked at: no token. Items full first: the token continues.
		if ended and not stopped then last = nil end
		if ended or stopped then break end
	end
	-- The scan budget ran out: a token only if an entry in bounds follows (no empty last page).
	if last and #items < max then
		local nxt = redis.call(range, ix, pos, pos, 'WITHSCORES')
		local sc = nxt[2] and tonumber(nxt[2])
		if not sc or (asc and q.to and sc > q.to) or (not asc and q.from and sc < q.from) then last = nil end
	end
	if #gone > 0 then
		redis.call('ZREM', ix, unpack(gone))
		redis.call('HDEL', ixs, unpack(gone))
	end
	return items, last and hex(last) or nil
end

-- The worker's timer sweep. KEYS: the timer set (sorted set: member -> due time, epoch ms).
-- ARGV: lease (ms), max. Returns up to max due members and pushes each one's due time lease ms into the
-- future, so several workers never fire the same deadline at once; the sweeper removes a member once what
-- it fired is acknowledged, and a sweeper that died leaves it due again when the lease ends.
local function timers_claim(keys, args)
	local lease, max = tonumber(args[1]), tonumber(args[2])
	local now = now_ms()
	local due = redis.call('ZRANGE', keys[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, max)
	for i = 1, #due do redis.call('ZADD', keys[1], 'XX', now + lease, due[i]) end
	return due
end

redis.register_function('andon_timers_claim', timers_claim)
redis.register_function('andon_ix_put', ix_put)
