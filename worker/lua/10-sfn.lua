-- AWS Step Functions: state machines and executions (adapter: worker/api_sfn.c).
-- Each API file is one do-block: all files share one chunk, and Lua allows 200 locals per function.
do

local SFN = {RUNNING = 'RUNNING', STOPPED = 'ABORTED', SUCCEEDED = 'SUCCEEDED', FAILED = 'FAILED',
	TIMED_OUT = 'TIMED_OUT'}

-- Step Functions dates are epoch seconds with milliseconds.
local function sfn_date(ms) return ms / 1000 end

local function no_execution(arn)
	return 'ExecutionDoesNotExist', 400, 'Execution Does Not Exist: \'' .. arn .. '\''
end

-- KEYS: sm, r of the state machine. Fields: arn, name, type, account, definition?, roleArn?
local function sfn_create(keys, args)
	local req = request(keys[2], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	local cur = redis.call('HMGET', keys[1], 'type', 'def', 't0')
	if cur[1] then
		-- Same definition again is the same state machine (CreateStateMachine is idempotent).
		if cur[1] == f.type and cur[2] == (f.definition or '') then
			return answer(req, true, {stateMachineArn = f.arn, creationDate = sfn_date(tonumber(cur[3]))})
		end
		return fail(req, 'StateMachineAlreadyExists', 400, 'State Machine Already Exists: \'' .. f.arn .. '\'')
	end
	local ms = now_ms()
	redis.call('HSET', keys[1], 'arn', f.arn, 'name', f.name, 'type', f.type, 'def', f.definition or '',
		'role', f.roleArn or '', 'acct', f.account, 't0', ms, 'kms', f.kmsKeyId or '')
	return answer(req, true, {stateMachineArn = f.arn, creationDate = sfn_date(ms)})
end

-- What a start needs of its state machine, read in the chunk's first round so that sfn_start touches
-- only the execution's slot: "type\nrole", or nil when it does not exist. KEYS: sm.
local function sfn_sm_get(keys)
	local sm = redis.call('HMGET', keys[1], 'type', 'role')
	if not sm[1] then return nil end
	return sm[1] .. '\n' .. (sm[2] or '')
end

-- KEYS: x, h, r. Fields: arn (standard form), smArn, name, account, input?, sm? (sfn_sm_get's answer;
-- absent: the state machine does not exist)
local function sfn_start(keys, args)
	local req = request(keys[3], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	local input = f.input or '{}'
	local nl = f.sm and string.find(f.sm, '\n', 1, true)
	if not nl then
		return fail_missing(req, 'StateMachineDoesNotExist', 400,
			'State Machine Does Not Exist: \'' .. f.smArn .. '\'')
	end
	local sm = {string.sub(f.sm, 1, nl - 1), string.sub(f.sm, nl + 1)}
	local cur = redis.call('HMGET', keys[1], 'st', 'input', 't0', 'arn', 'acct')
	if cur[1] and not owned(cur[5]) then
		return fail(req, 'ExecutionAlreadyExists', 400, 'Execution Already Exists: \'' .. f.arn .. '\'')
	end
	if cur[1] then
		if TERMINAL[cur[1]] then CALL.closed = keys[1] end
		-- A STANDARD execution started again with the same name and input is the same execution.
		if cur[1] == 'RUNNING' and sm[1] == 'STANDARD' and cur[2] == input then
			return answer(req, true, {executionArn = cur[4], startDate = sfn_date(tonumber(cur[3]))})
		end
		return fail(req, 'ExecutionAlreadyExists', 400, 'Execution Already Exists: \'' .. cur[4] .. '\'')
	end
	local arn = f.arn
	if sm[1] == 'EXPRESS' then
		local s = redis.sha1hex(req.id)
		arn = string.gsub(arn, ':execution:', ':express:', 1) .. ':' .. s:sub(1, 8) .. '-' .. s:sub(9, 12) ..
			'-' .. s:sub(13, 16) .. '-' .. s:sub(17, 20) .. '-' .. s:sub(21, 32)
	end
	local ms = now_ms()
	local ev = create(keys[1], keys[2], req, 'StepFunctions', arn, 'RUNNING', ms,
		{timestamp = sfn_date(ms), type = 'ExecutionStarted',
			executionStartedEventDetails = {input = input, roleArn = sm[2] ~= '' and sm[2] or nil}},
		SFN, {'sm', f.smArn, 'name', f.name, 'type', sm[1], 'acct', f.account, 'input', input})
	local outs = {ev}
	-- ListExecutions lists STANDARD executions only, as Step Functions does.
	if sm[1] == 'STANDARD' then outs[2] = listed(f.smArn, f.arn, ms, 1, 'RUNNING', nil, arn, f.name) end
	return answer(req, true, {executionArn = arn, startDate = sfn_date(ms)}, outs)
end

-- The hot path (docs/REDIS.md §4): no table, no msgpack of the reply or the event, no stored answer. The
-- worker builds the reply and the ExecutionAborted event from {status, t0, t1, hid} (api_sfn.c); hid 0
-- means nothing changed. An ended execution's answer follows from its final state, which never changes
-- again, and the request that ended it is recorded ('end'), so a replay of that one rebuilds its event
-- too: the answer hash is read only for an execution that is missing or had answers before it existed.
-- The change files the execution's new status in its state machine's List index ('@listed').
-- KEYS: x, h, r. ARGV: id, op, arn, error, cause, entry head (1 byte), entry tail, '@acct', account, '@ret',
-- retention (seconds).
-- The history entry is head .. {id, previousEventId, timestamp} .. tail: the worker packs the rest.
local function sfn_stop(keys, args)
	local id = args[1]
	call_reset(args[9], args[11])
	local v = redis.call('HMGET', keys[1], 'st', 'hseq', 't0', 't1', 'acct', 'type', 'end', 'rq', 'sm', 'name')
	local st = v[1]
	if not st or not owned(v[5]) or v[8] or (TERMINAL[st] and not v[7]) then
		local req = {r = keys[3], id = id, dedup = id, op = args[2]}
		local dup = seen(req)
		if dup then return dup end
		if not st or CALL.foreign then return fail_missing(req, no_execution(args[3])) end
	end
	if v[6] == 'EXPRESS' then
		return read_fail('ValidationException', 400, 'This operation is not supported by EXPRESS state machines')
	end
	-- The identity is the key's hash tag: 'andon:{' .. identity .. '}:x'.
	local ident = string.sub(keys[1], 8, -4)
	if TERMINAL[st] then
		if v[7] == id then
			local l = listed(v[9], ident, v[3], v[2], st, v[4], ident, v[10])
			return {1, 1, {st, v[3], v[4], v[2]}, l.to, l.key, l.value}
		end
		return {0, 1, {st, v[3], v[4], 0}}
	end
	local ms = now_ms()
	local hid = tonumber(v[2]) + 1
	redis.call('RPUSH', keys[2], args[6] .. mp_pack('id', hid, 'previousEventId', hid - 1, 'timestamp', ms / 1000) ..
		args[7])
	-- error and cause live in the entry only: describe reads them from the ending entry (sfn_describe).
	redis.call('HSET', keys[1], 'st', 'STOPPED', 'hseq', hid, 't1', ms, 'end', id)
	-- Closed: it expires after the retention, its answers with it (docs/REDIS.md, Lifetime).
	closing({x = keys[1], h = keys[2]})
	expire_closed(keys[3])
	local l = listed(v[9], ident, v[3], hid, 'STOPPED', ms, ident, v[10])
	return {0, 1, {'STOPPED', v[3], ms, hid}, l.to, l.key, l.value}
end

local FINISH_EVENT = {
	SUCCEEDED = {'ExecutionSucceeded', 'executionSucceededEventDetails'},
	FAILED = {'ExecutionFailed', 'executionFailedEventDetails'},
	TIMED_OUT = {'ExecutionTimedOut', 'executionTimedOutEventDetails'},
}

-- The engine reports that an execution ended. KEYS: x, h, r. Fields: arn, status, output?, error?, cause?
local function sfn_finish(keys, args)
	local req = request(keys[3], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	local e = load(keys[1], keys[2], 'sm', 'name', 'type')
	if not e then return fail_missing(req, no_execution(f.arn)) end
	if TERMINAL[e.st] then
		return fail(req, 'ExecutionNotRunning', 400, 'Execution is already ' .. SFN[e.st] .. ': \'' .. e.arn .. '\'')
	end
	local ms = now_ms()
	local kind = FINISH_EVENT[f.status]
	local d
	if f.status == 'SUCCEEDED' then
		d = {output = f.output or '{}'}
	else
		d = details({error = f.error, cause = f.cause})
	end
	local output = f.status == 'SUCCEEDED' and (f.output or '{}') or ''
	local ev = transition(e, req, f.status, ms, {timestamp = sfn_date(ms), type = kind[1], [kind[2]] = d},
		SFN, {'output', output, 'error', f.error or '', 'cause', f.cause or ''})
	local outs = {ev}
	if e.type == 'STANDARD' then
		local ident = string.sub(keys[1], 8, -4)
		outs[2] = listed(e.sm, ident, e.t0, e.hseq, f.status, ms, e.arn, e.name)
	end
	return answer(req, true, {executionArn = e.arn, status = SFN[f.status], stopDate = sfn_date(ms)}, outs)
end

-- The error and cause of an execution that ended, when its hash does not hold them (sfn_stop keeps them in
-- the history entry only): the last entry is the one that ended it, as nothing follows an end.
local function ending_details(h)
	local last = redis.call('LINDEX', h, -1)
	local entry = last and mp_unpack(last) or {}
	local d = entry.executionAbortedEventDetails or entry.executionFailedEventDetails or
		entry.executionTimedOutEventDetails or {}
	return d.error, d.cause
end

-- KEYS: x, h. Fields: arn.
local function sfn_describe(keys, args)
	local f = fields(args)
	local v = redis.call('HMGET', keys[1], 'st', 'arn', 'sm', 'name', 't0', 't1', 'input', 'output', 'error', 'cause',
		'acct')
	if not v[1] or not owned(v[11]) then return read_fail(no_execution(f.arn)) end
	if TERMINAL[v[1]] and not v[9] and not v[10] then v[9], v[10] = ending_details(keys[2]) end
	local b = {executionArn = v[2], stateMachineArn = v[3], name = v[4], status = SFN[v[1]],
		startDate = sfn_date(tonumber(v[5])), input = v[7]}
	if v[6] then b.stopDate = sfn_date(tonumber(v[6])) end
	if v[8] and v[8] ~= '' then b.output = v[8] end
	if v[9] and v[9] ~= '' then b.error = v[9] end
	if v[10] and v[10] ~= '' then b.cause = v[10] end
	return read(true, b)
end

-- KEYS: x, h. Fields: arn, maxResults (0 = 100), reverseOrder (1/0), nextToken?
local function sfn_history(keys, args)
	local f = fields(args)
	if not load(keys[1], keys[2]) then return read_fail(no_execution(f.arn)) end
	local max = tonumber(f.maxResults)
	if max == 0 then max = 100 end
	local page = history_page(keys[2], max, f.reverseOrder == '1', f.nextToken)
	if not page then return read_fail('InvalidToken', 400, 'Invalid Token: \'' .. f.nextToken .. '\'') end
	return read(true, page)
end

-- ListExecutions from the state machine's index (docs/REDIS.md, section 13), newest first.
-- KEYS: sm, ix, ixs of the state machine. Fields: arn (the state machine), maxResults (0 = 100),
-- statusFilter? (engine status), nextToken?, retainMs? (closed longer ago: gone; absent or 0: kept).
local function sfn_list(keys, args)
	local f = fields(args)
	local sm = redis.call('HMGET', keys[1], 'acct', 'type')
	if not sm[1] or not owned(sm[1]) then
		return read_fail('StateMachineDoesNotExist', 400, 'State Machine Does Not Exist: \'' .. f.arn .. '\'')
	end
	if sm[2] == 'EXPRESS' then
		return read_fail('ValidationException', 400, 'This operation is not supported by EXPRESS state machines')
	end
	local max = tonumber(f.maxResults)
	if max == 0 then max = 100 end
	local want = f.statusFilter
	local items, token = list_page(keys[2], keys[3], {max = max, token = f.nextToken,
		retain = tonumber(f.retainMs) or (CALL.ret or 0) * 1000}, function(member, r)
		if want and r.st ~= want then return nil end
		return {executionArn = r.arn, stateMachineArn = f.arn, name = r.name, status = SFN[r.st],
			startDate = sfn_date(r.t0), stopDate = r.t1 and sfn_date(r.t1) or nil}
	end)
	if not items then return read_fail('InvalidToken', 400, 'Invalid Token: \'' .. f.nextToken .. '\'') end
	return read(true, {executions = items, nextToken = token})
end

redis.register_function('sfn_create', sfn_create)
redis.register_function('sfn_list', sfn_list)
redis.register_function('sfn_start', sfn_start)
redis.register_function{function_name = 'sfn_sm_get', callback = sfn_sm_get, flags = {'no-writes'}}
redis.register_function('sfn_stop', sfn_stop)
redis.register_function('sfn_finish', sfn_finish)
redis.register_function{function_name = 'sfn_describe', callback = sfn_describe, flags = {'no-writes'}}
redis.register_function{function_name = 'sfn_history', callback = sfn_history, flags = {'no-writes'}}
end
