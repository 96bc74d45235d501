-- Alibaba Cloud CloudFlow: flows and executions scoped by account (adapter: worker/api_cflow.c).
-- Keys share the tag cf:OWNER:FLOW, so the flow, its executions and its token buckets sit in one slot and
-- every op is one atomic call. Keys, fields and order of checks: docs/cloudflow.md.
do

local CF = {STARTING = 'Starting', RUNNING = 'Running', STOPPED = 'Stopped', SUCCEEDED = 'Succeeded',
	FAILED = 'Failed', TIMED_OUT = 'TimedOut'}

local CF_HISTORY = {STOPPED = 'ExecutionStopped', SUCCEEDED = 'ExecutionSucceeded', FAILED = 'ExecutionFailed',
	TIMED_OUT = 'ExecutionTimedOut'}

-- Days since 1970-01-01 to the proleptic Gregorian year, month, day, counting in 400-year eras of
-- 146097 days that start on March 1st, so the leap day is the last day of its year.
local function cf_civil(days)
	local z = days + 719468
	local era = math.floor(z / 146097)
	local doe = z - era * 146097 -- day of era, 0..146096
	local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
	local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100)) -- day of year from March 1st
	local mp = math.floor((5 * doy + 2) / 153) -- month from March, 0..11
	local d = doy - math.floor((153 * mp + 2) / 5) + 1
	local m = mp < 10 and mp + 3 or mp - 9
	local y = yoe + era * 400
	if m <= 2 then y = y + 1 end
	return y, m, d
end

-- CloudFlow times: epoch ms as UTC ISO 8601 with milliseconds, 2019-01-01T01:01:01.001Z.
local function cf_time(ms)
	local days = math.floor(ms / 86400000)
	local r = ms - days * 86400000
	local y, m, d = cf_civil(days)
	return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d, math.floor(r / 3600000),
		math.floor(r / 60000) % 60, math.floor(r / 1000) % 60, r % 1000)
end

-- A JSON string literal of s: quotes, backslashes and control characters escaped, every other byte as it is
-- (the adapter has checked that the text is UTF-8).
local CF_JSON_ESC = {['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n',
	['\r'] = '\\r', ['\t'] = '\\t'}
local function cf_json_str(s)
	return '"' .. string.gsub(s, '[%c"\\]', function(c)
		return CF_JSON_ESC[c] or string.format('\\u%04x', string.byte(c))
	end) .. '"'
end

-- A history entry's EventDetail: JSON object text, as CloudFlow's GetExecutionHistory returns it, with the
-- fields of t that are set, in a fixed order; '{}' when none is. Every value is a string: Input and Output
-- are the caller's JSON text as given, escaped as a string, never parsed.
local CF_DETAIL = {'Input', 'Output', 'Error', 'Cause'}
local function cf_detail(t)
	local parts = {}
	for i = 1, #CF_DETAIL do
		local k = CF_DETAIL[i]
		if t[k] then parts[#parts + 1] = cf_json_str(k) .. ':' .. cf_json_str(t[k]) end
	end
	return '{' .. table.concat(parts, ',') .. '}'
end

-- Takes one request's token from the bucket tb (hash: m = milli-tokens, t = refilled up to, epoch ms),
-- refilled at rate tokens per second (= rate milli-tokens per ms) up to burst tokens. A bucket not seen
-- yet is full; the key expires once it would be full again. true when the request may go on.
local function cf_take(tb, rate, burst)
	if rate <= 0 then return true end
	local now = now_ms()
	local cap = burst * 1000
	local v = redis.call('HMGET', tb, 'm', 't')
	local m, t = tonumber(v[1]), tonumber(v[2])
	if not m then m, t = cap, now end
	-- A clock that steps back refills nothing until it has caught up again.
	if now > t then m, t = math.min(cap, m + (now - t) * rate), now end
	local ok = m >= 1000
	if ok then m = m - 1000 end
	redis.call('HSET', tb, 'm', m, 't', t)
	redis.call('PEXPIRE', tb, math.ceil((cap - m) / rate) + 1000)
	return ok
end

local function cf_denied(f)
	return read_fail('AccessDenied', 403, 'The flow ' .. f.flow .. ' of account ' .. f.owner ..
		' cannot be accessed by account ' .. f.account)
end

local function cf_no_flow(req)
	return fail_missing(req, 'FlowNotExists', 404, 'Flow ' .. req.f.flow .. ' does not exist')
end

local function cf_no_execution(req)
	return fail_missing(req, 'ExecutionNotExists', 404,
		'Execution ' .. req.f.name .. ' does not exist in flow ' .. req.f.flow)
end

-- Not stored: an ended execution never changes again (and its name is never reused), so a replay gets the
-- same answer from the same state.
local function cf_completed(req, e)
	return read_fail('ExecutionAlreadyCompleted', 400,
		'Execution ' .. e.name .. ' of flow ' .. req.f.flow .. ' has already completed: ' .. CF[e.st])
end

-- ConcurrentUpdateError when the request carries an ExpectedVersion the execution no longer has.
local function cf_version_conflict(req, e)
	local want = req.f.expectedVersion
	if not want or tonumber(want) == e.ver then return nil end
	return fail(req, 'ConcurrentUpdateError', 409, 'Execution ' .. e.name .. ' is at version ' .. e.ver ..
		', not ' .. want .. ': it was changed meanwhile')
end

-- The execution description every execution op answers with. Version is an Andon extension.
local function cf_body(req, e, def)
	local b = {Name = e.name, FlowName = e.flow, FlowDefinition = def, Input = e.input,
		Output = e.output or '', Status = CF[e.st], StartedTime = cf_time(e.t0), RequestId = req.id,
		Version = e.ver}
	if e.t1 then b.StoppedTime = cf_time(e.t1) end
	return b
end

local function cf_load(keys)
	return load(keys[2], keys[3], 'flow', 'name', 'input', 'output')
end

-- transition() has moved e along with Redis; the reply also shows the output just set.
local function cf_moved(e, output)
	if output then e.output = output end
	return e
end

-- The common head of the execution ops after the duplicate check: the flow, then the execution.
-- Returns def, e; or nil, answer.
local function cf_find(req, keys)
	local def = redis.call('HGET', keys[1], 'def')
	if not def then return nil, cf_no_flow(req) end
	local e = cf_load(keys)
	if not e then return nil, cf_no_execution(req) end
	return def, e
end

-- KEYS: flow, fr (answers). Fields: account, flow, definition, description?
local function cf_create(keys, args)
	local req = request(keys[2], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	if redis.call('EXISTS', keys[1]) == 1 then
		return fail(req, 'FlowAlreadyExists', 409, 'Flow ' .. f.flow .. ' already exists')
	end
	local ms = now_ms()
	redis.call('HSET', keys[1], 'name', f.flow, 'def', f.definition, 'desc', f.description or '',
		'acct', f.account, 't0', ms)
	local t = cf_time(ms)
	return answer(req, true, {Name = f.flow, Definition = f.definition, Description = f.description or '',
		Type = 'FDL', CreatedTime = t, LastModifiedTime = t, RequestId = req.id})
end

-- KEYS: flow, x, h, r. Fields: account, owner, flow, name, arn, input?
local function cf_start(keys, args)
	local req = request(keys[4], args)
	local f = req.f
	if f.account ~= f.owner then return cf_denied(f) end
	local dup = seen(req)
	if dup then return dup end
	local def = redis.call('HGET', keys[1], 'def')
	if not def then return cf_no_flow(req) end
	if redis.call('EXISTS', keys[2]) == 1 then
		return fail(req, 'ExecutionAlreadyExists', 409,
			'Execution ' .. f.name .. ' already exists in flow ' .. f.flow)
	end
	local ms = now_ms()
	local input = f.input or '{}'
	local ev = create(keys[2], keys[3], req, 'CloudFlow', f.arn, 'STARTING', ms,
		{Type = 'ExecutionStarted', Time = cf_time(ms), EventDetail = cf_detail({Input = input})},
		CF, {'flow', f.flow, 'name', f.name, 'acct', f.account, 'input', input,
			'ix', string.match(keys[1], '^andon:{(.*)}:flow$')})
	local e = {name = f.name, flow = f.flow, input = input, st = 'STARTING', t0 = ms, ver = 1}
	-- Filed in the flow's List index, in the flow's slot (docs/REDIS.md, section 13).
	return answer(req, true, cf_body(req, e, def), {ev, listed_of(keys[2], f.name)})
end

-- The engine reports the execution under way. KEYS: flow, x, h, r.
-- Fields: account, owner, flow, name, expectedVersion?
local function cf_running(keys, args)
	local req = request(keys[4], args)
	local f = req.f
	if f.account ~= f.owner then return cf_denied(f) end
	local dup = seen(req)
	if dup then return dup end
	local def, e = cf_find(req, keys)
	if not def then return e end
	if TERMINAL[e.st] then return cf_completed(req, e) end
	local conflict = cf_version_conflict(req, e)
	if conflict then return conflict end
	-- Running already: the report is absorbed, nothing changes.
	if e.st == 'RUNNING' then return answer(req, true, cf_body(req, e, def)) end
	local ms = now_ms()
	local ev = transition(e, req, 'RUNNING', ms,
		{Type = 'ExecutionRunning', Time = cf_time(ms), EventDetail = cf_detail({})}, CF)
	return answer(req, true, cf_body(req, cf_moved(e), def), {ev, listed_of(e.x, e.name)})
end

-- KEYS: flow, x, h, r, tb (the caller's bucket for this flow).
-- Fields: account, owner, flow, name, rate, burst, error?, cause?, expectedVersion?
-- Order: the request id (owner only), the bucket, access, flow, execution, status, version.
local function cf_stop(keys, args)
	local req = request(keys[4], args)
	local f = req.f
	local own = f.account == f.owner
	if own then
		local dup = seen(req)
		if dup then return dup end
	end
	-- Neither a throttled nor a denied request is stored: a replay is decided afresh. The account-wide
	-- bucket was taken in the worker's first round (cf_take_account); '@gate' is its answer.
	if f['@gate'] == '0' then
		return read_fail('ResourceThrottled', 429, 'Request was denied due to flow control: account ' ..
			f.account .. ' exceeded ' .. f.accountRate .. ' StopExecution requests per second')
	end
	if not cf_take(keys[5], tonumber(f.rate), tonumber(f.burst)) then
		return read_fail('ResourceThrottled', 429, 'Request was denied due to flow control: account ' ..
			f.account .. ' exceeded ' .. f.rate .. ' StopExecution requests per second on flow ' .. f.flow)
	end
	if not own then return cf_denied(f) end
	local def, e = cf_find(req, keys)
	if not def then return e end
	if TERMINAL[e.st] then return cf_completed(req, e) end
	local conflict = cf_version_conflict(req, e)
	if conflict then return conflict end
	local ms = now_ms()
	local ev = transition(e, req, 'STOPPED', ms,
		{Type = 'ExecutionStopped', Time = cf_time(ms),
			EventDetail = cf_detail({Error = f.error, Cause = f.cause})},
		CF, {'error', f.error or '', 'cause', f.cause or ''})
	return answer(req, true, cf_body(req, cf_moved(e), def), {ev, listed_of(e.x, e.name)})
end

-- The engine reports the execution ended. KEYS: flow, x, h, r.
-- Fields: account, owner, flow, name, status (SUCCEEDED/FAILED/TIMED_OUT), output?, error?, cause?,
-- expectedVersion?
local function cf_finish(keys, args)
	local req = request(keys[4], args)
	local f = req.f
	if f.account ~= f.owner then return cf_denied(f) end
	local dup = seen(req)
	if dup then return dup end
	local def, e = cf_find(req, keys)
	if not def then return e end
	if TERMINAL[e.st] then return cf_completed(req, e) end
	local conflict = cf_version_conflict(req, e)
	if conflict then return conflict end
	local ms = now_ms()
	local ev = transition(e, req, f.status, ms,
		{Type = CF_HISTORY[f.status], Time = cf_time(ms),
			EventDetail = cf_detail({Output = f.output, Error = f.error, Cause = f.cause})},
		CF, {'output', f.output or '', 'error', f.error or '', 'cause', f.cause or ''})
	return answer(req, true, cf_body(req, cf_moved(e, f.output or ''), def), {ev, listed_of(e.x, e.name)})
end

-- The common head of the reads: access, the flow, then the execution (keys flow, x). Returns def, e; or
-- nil, answer. Nothing is stored.
local function cf_read_find(keys, f)
	if f.account ~= f.owner then return nil, cf_denied(f) end
	local def = redis.call('HGET', keys[1], 'def')
	if not def then return nil, read_fail('FlowNotExists', 404, 'Flow ' .. f.flow .. ' does not exist') end
	local e = load(keys[2], nil, 'flow', 'name', 'input', 'output')
	if not e then
		return nil, read_fail('ExecutionNotExists', 404,
			'Execution ' .. f.name .. ' does not exist in flow ' .. f.flow)
	end
	return def, e
end

-- KEYS: flow, x. Fields: account, owner, flow, name. A read: nothing is stored.
local function cf_describe(keys, args)
	local def, e = cf_read_find(keys, fields(args))
	if not def then return e end
	return read(true, cf_body({id = args[1]}, e, def))
end

-- KEYS: flow, x, h. Fields: account, owner, flow, name, limit (1-1000), nextToken?. A read: the events of
-- the execution from the token on (the index of the next entry, handed out by the previous page), oldest
-- first, in CloudFlow's shape. Andon runs no steps: StepName is empty, and ScheduleEventId is the event
-- before (0 for the first), as in CloudFlow's examples.
local function cf_history(keys, args)
	local f = fields(args)
	local def, e = cf_read_find(keys, f)
	if not def then return e end
	local page = history_page(keys[3], tonumber(f.limit), false, f.nextToken)
	if not page then
		return read_fail('InvalidArgument', 400, 'NextToken ' .. f.nextToken .. ' is invalid: give the ' ..
			'NextToken of the previous page')
	end
	local evs = {}
	for i = 1, #page.events do
		local h = page.events[i]
		-- Entries written before EventDetail was stored as JSON text hold a map, or nothing.
		local d = h.EventDetail
		if type(d) ~= 'string' then d = cf_detail(d or {}) end
		evs[i] = {EventId = h.id, Type = h.Type, StepName = h.StepName or '', Time = h.Time, EventDetail = d,
			ScheduleEventId = h.previousEventId}
	end
	return read(true, {Events = evs, NextToken = page.nextToken, RequestId = args[1]})
end


-- The account-wide bucket of CloudFlow.StopExecution, a gate the worker runs before the change (its
-- answer reaches cf_stop as '@gate'). KEYS: the bucket. ARGV: rate, burst. Returns 1 (a token) or 0.
-- ListExecutions from the flow's index (docs/REDIS.md, section 13), newest first. KEYS: flow, ix, ixs.
-- Fields: account, owner, flow, limit (1-100), status? (engine), from?, to? (start bounds, epoch ms,
-- inclusive), prefix? (of the execution name), nextToken?, retainMs?
local function cf_list(keys, args)
	local f = fields(args)
	if f.account ~= f.owner then return cf_denied(f) end
	if redis.call('EXISTS', keys[1]) == 0 then
		return read_fail('FlowNotExists', 404, 'Flow ' .. f.flow .. ' does not exist')
	end
	local want, prefix = f.status, f.prefix
	local items, token = list_page(keys[2], keys[3], {max = tonumber(f.limit), token = f.nextToken,
		from = f.from and tonumber(f.from), to = f.to and tonumber(f.to), retain = tonumber(f.retainMs) or (CALL.ret or 0) * 1000},
		function(member, r)
			if want and r.st ~= want then return nil end
			if prefix and string.sub(r.name, 1, #prefix) ~= prefix then return nil end
			return {Name = r.name, FlowName = f.flow, Status = CF[r.st], StartedTime = cf_time(r.t0),
				StoppedTime = r.t1 and cf_time(r.t1) or nil}
		end)
	if not items then
		return read_fail('InvalidArgument', 400, 'NextToken is invalid: give the NextToken of the previous page')
	end
	return read(true, {Executions = items, NextToken = token, RequestId = args[1]})
end

local function cf_take_account(keys, args)
	return cf_take(keys[1], tonumber(args[1]), tonumber(args[2])) and 1 or 0
end

redis.register_function('cf_take_account', cf_take_account)
redis.register_function('cf_create', cf_create)
redis.register_function('cf_start', cf_start)
redis.register_function('cf_list', cf_list)
redis.register_function('cf_running', cf_running)
redis.register_function('cf_stop', cf_stop)
redis.register_function('cf_finish', cf_finish)
redis.register_function{function_name = 'cf_describe', callback = cf_describe, flags = {'no-writes'}}
redis.register_function{function_name = 'cf_history', callback = cf_history, flags = {'no-writes'}}
end
