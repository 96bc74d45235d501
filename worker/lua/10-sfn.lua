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
		'role', f.roleArn or '', 'acct', f.account, 't0', ms)
	return answer(req, true, {stateMachineArn = f.arn, creationDate = sfn_date(ms)})
end

-- KEYS: sm, x, h, r. Fields: arn (standard form), smArn, name, account, input?
local function sfn_start(keys, args)
	local req = request(keys[4], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	local input = f.input or '{}'
	local sm = redis.call('HMGET', keys[1], 'type', 'role')
	if not sm[1] then
		return fail_missing(req, 'StateMachineDoesNotExist', 400,
			'State Machine Does Not Exist: \'' .. f.smArn .. '\'')
	end
	local cur = redis.call('HMGET', keys[2], 'st', 'input', 't0', 'arn', 'acct')
	if cur[1] and not owned(cur[5]) then
		return fail(req, 'ExecutionAlreadyExists', 400, 'Execution Already Exists: \'' .. f.arn .. '\'')
	end
	if cur[1] then
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
	local ev = create(keys[2], keys[3], req, 'StepFunctions', arn, 'RUNNING', ms,
		{timestamp = sfn_date(ms), type = 'ExecutionStarted',
			executionStartedEventDetails = {input = input, roleArn = sm[2] ~= '' and sm[2] or nil}},
		SFN, {'sm', f.smArn, 'name', f.name, 'type', sm[1], 'acct', f.account, 'input', input})
	return answer(req, true, {executionArn = arn, startDate = sfn_date(ms)}, {ev})
end

-- What StopExecution answers: stopDate, plus the status and start date (an Andon extension), so that a
-- stop of an execution that had already ended says how and when it ended.
local function stop_body(st, t0, t1)
	return {stopDate = sfn_date(t1), startDate = sfn_date(t0), status = SFN[st]}
end

-- KEYS: x, h, r. Fields: arn, error?, cause?
local function sfn_stop(keys, args)
	local req = request(keys[3], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	local e = load(keys[1], keys[2], 'type')
	if not e then return fail_missing(req, no_execution(f.arn)) end
	if e.type == 'EXPRESS' then
		return fail(req, 'ValidationException', 400, 'This operation is not supported by EXPRESS state machines')
	end
	-- An ended execution absorbs the stop: success with how it ended, nothing changed.
	if TERMINAL[e.st] then return answer(req, true, stop_body(e.st, e.t0, e.t1)) end
	local ms = now_ms()
	local ev = transition(e, req, 'STOPPED', ms,
		{timestamp = sfn_date(ms), type = 'ExecutionAborted',
			executionAbortedEventDetails = details({error = f.error, cause = f.cause})},
		SFN, {'error', f.error or '', 'cause', f.cause or ''})
	return answer(req, true, stop_body('STOPPED', e.t0, ms), {ev})
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
	local e = load(keys[1], keys[2])
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
	return answer(req, true, {executionArn = e.arn, status = SFN[f.status], stopDate = sfn_date(ms)}, {ev})
end

-- KEYS: x. Fields: arn.
local function sfn_describe(keys, args)
	local f = fields(args)
	local v = redis.call('HMGET', keys[1], 'st', 'arn', 'sm', 'name', 't0', 't1', 'input', 'output', 'error', 'cause',
		'acct')
	if not v[1] or not owned(v[11]) then return read_fail(no_execution(f.arn)) end
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

redis.register_function('sfn_create', sfn_create)
redis.register_function('sfn_start', sfn_start)
redis.register_function('sfn_stop', sfn_stop)
redis.register_function('sfn_finish', sfn_finish)
redis.register_function{function_name = 'sfn_describe', callback = sfn_describe, flags = {'no-writes'}}
redis.register_function{function_name = 'sfn_history', callback = sfn_history, flags = {'no-writes'}}
end
