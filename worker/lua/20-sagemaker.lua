-- SageMaker pipelines: executions, callback and Lambda steps, and the stop that waits for running steps
-- (adapter: worker/api_sagemaker.c). Steps live in the execution hash (field 'step:<name>'), so every call,
-- the timers' included, touches one execution's keys x, h, r only.
do

local SM = {RUNNING = 'Executing', STOPPING = 'Stopping', STOPPED = 'Stopped', FAILED = 'Failed',
	SUCCEEDED = 'Succeeded'}
local MAX_STEPS = 200
local TOPIC_MAX = 249 -- Kafka's limit on topic names
local B62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
-- Step statuses during which a step counts as running (a stop waits for it).
local RUNNING_STEP = {Executing = true, Stopping = true}

local function sm_date(ms) return ms / 1000 end

local function not_found(arn)
	return 'ResourceNotFound', 400, 'Pipeline execution \'' .. arn .. '\' does not exist'
end

-- SageMaker's ClientRequestToken is its idempotency key: when given, the answer is stored under it (per
-- op), so a retry with a new request id but the same token gets the first answer.
local function sm_request(rkey, args)
	local req = request(rkey, args)
	local crt = req.f.ClientRequestToken
	-- A step result's token is part of what the request is about: one idempotency token may be reused
	-- for the results of two steps.
	if crt then req.dedup = 'crt\n' .. req.op .. '\n' .. (req.f.token or '') .. '\n' .. crt end
	return req
end

-- Execution e closes (after closing()): its callback tokens' index keys, in their own slots, expire with it
-- as '@expire' outputs.
local function tokens_expire(e)
	local c = CALL.closing
	if not c then return end
	local x = {}
	for _, k in ipairs(redis.call('HKEYS', e.x)) do
		if string.sub(k, 1, 4) == 'tok:' then
			x[#x + 1] = out(OUT.EXPIRE, 'andon:{sm-token:' .. string.sub(k, 5) .. '}:exec', tostring(c.ttl))
		end
	end
	CALL.extra = x
end

local function sm_load(keys)
	local e = load(keys[1], keys[2], 'pipe', 'run', 'nsteps', 'lto', 'stp', 'cbs', 'sto')
	if e then e.on_close = tokens_expire end
	return e
end

local function get_step(e, name)
	local s = redis.call('HGET', e.x, 'step:' .. name)
	return s and mp_unpack(s)
end

-- The execution hash x as a table of its plain fields, and its steps (each with its name) in start order.
local function read_all(x)
	local all = redis.call('HGETALL', x)
	local plain, steps = {}, {}
	for i = 1, #all, 2 do
		if string.sub(all[i], 1, 5) == 'step:' then
			local s = mp_unpack(all[i + 1])
			s.name = string.sub(all[i], 6)
			steps[#steps + 1] = s
		else
			plain[all[i]] = all[i + 1]
		end
	end
	table.sort(steps, function(a, b) return a.n < b.n end)
	return plain, steps
end

-- Moves a step to status, storing it, and records the change; returns the event.
local function step_change(e, req, ms, name, step, status, reason)
	local prev = step.st
	step.st = status
	if not RUNNING_STEP[status] then step.t1 = ms end
	if reason then step.reason = reason end
	redis.call('HSET', e.x, 'step:' .. name, mp_pack(step))
	return note(e, req, ms, {timestamp = sm_date(ms), type = 'StepStatusChanged', stepName = name,
		stepType = step.type, stepStatus = status, previousStepStatus = prev, failureReason = reason},
		SM, {step = name, stepType = step.type, stepStatus = status, previousStepStatus = prev})
end

local function exec_change(e, req, ms, st, reason)
	return transition(e, req, st, ms, {timestamp = sm_date(ms), type = 'PipelineExecutionStatusChanged',
		status = SM[st], previousStatus = SM[e.st], failureReason = reason}, SM,
		reason and {'tm', ms, 'reason', reason} or {'tm', ms})
end

-- The message a callback step's handler gets on its topic (Kafka key: the execution ARN, so the
-- Executing and Stopping messages of one execution stay in order).
-- Its arguments are the bytes the adapter packed, never a Lua table (an empty map when none were given),
-- and it names the account: a topic may be shared.
local function callback_message(e, name, step, status)
	local args = redis.call('HGET', e.x, 'args:' .. name) or (step.args and mp_pack(step.args)) or EMPTY_MAP
	return out(step.topic, e.arn, pack_map({{'token', step.token}, {'pipelineExecutionArn', e.arn},
		{'stepName', name}, {'arguments', args, true}, {'status', status}, {'account', e.acct}}))
end

-- A stop ends once no step runs: Stopped, or Failed when a Lambda step of the execution hit its timeout.
local function settle(e, req, ms, outs)
	if e.st ~= 'STOPPING' or tonumber(e.run) > 0 then return end
	if e.lto == '1' then
		outs[#outs + 1] = exec_change(e, req, ms, 'FAILED', 'A Lambda step timed out')
	else
		outs[#outs + 1] = exec_change(e, req, ms, 'STOPPED')
	end
end

-- A running step ends (its result, its Lambda function's report, or its deadline).
local function finish_step(e, req, ms, name, step, status, reason, outputs, outs)
	if outputs then step.outputs = outputs end
	if step.st == 'Stopping' then outs[#outs + 1] = out(OUT.ANSWERED, e.arn .. '\n' .. name, '') end
	outs[#outs + 1] = step_change(e, req, ms, name, step, status, reason)
	e.run = tonumber(e.run) - 1
	redis.call('HSET', e.x, 'run', e.run)
	settle(e, req, ms, outs)
end

-- A callback token: 10 characters of [A-Za-z0-9] from a hash of what is unique to this step start.
-- Tokens are lookup handles, not secrets (producers are trusted, docs/sagemaker.md).
local function new_token(seed)
	local hex = redis.sha1hex(seed)
	local t = {}
	for i = 1, 10 do
		local b = tonumber(hex:sub(2 * i - 1, 2 * i), 16) % 62
		t[i] = B62:sub(b + 1, b + 1)
	end
	return table.concat(t)
end

-- The names of e's callback steps, each followed by a newline ('cbs'; step names never hold one). An
-- execution started before 'cbs' existed gets its list from its steps once.
local function callback_steps(e)
	if e.cbs then return e.cbs end
	local list = ''
	if tonumber(e.nsteps) > 0 then
		local _, steps = read_all(e.x)
		for _, st in ipairs(steps) do
			if st.type == 'Callback' then list = list .. st.name .. '\n' end
		end
	end
	e.cbs = list
	return list
end

-- A history entry of n fields, {id, previousEventId} and the n - 2 name, value pairs given, packed without
-- a table (cmsgpack packs its arguments back to back).
local function entry(n, hid, ...)
	return string.char(0x80 + n) .. mp_pack('id', hid, 'previousEventId', hid - 1, ...)
end

-- KEYS: x, h, r. Fields: arn, pipeline, pipelineArn, account, params? (msgpack list), ClientRequestToken?
local function sm_start(keys, args)
	local req = sm_request(keys[3], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	if redis.call('EXISTS', keys[1]) == 1 then
		return fail(req, 'ConflictException', 400, 'Pipeline execution \'' .. f.arn .. '\' already exists')
	end
	local ms = now_ms()
	local ev = create(keys[1], keys[2], req, 'SageMaker', f.arn, 'RUNNING', ms,
		{timestamp = sm_date(ms), type = 'PipelineExecutionStatusChanged', status = SM.RUNNING},
		SM, {'pipe', f.pipeline, 'parr', f.pipelineArn, 'acct', f.account, 'params', f.params or '',
			'nsteps', 0, 'run', 0, 'lto', 0, 'ix', f.pipelineArn, 'sto', f.StopTimeoutSeconds or ''})
	-- Filed in the pipeline's List index (docs/REDIS.md, section 13).
	return answer(req, true, {PipelineExecutionArn = f.arn}, {ev, listed_of(keys[1])})
end

-- The engine reports that a step started. KEYS: x, h, r. Fields: arn, step, type (Callback|Lambda),
-- timeout? (seconds), topic?, args? (msgpack map).
local function sm_step_start(keys, args)
	local req = request(keys[3], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	local e = sm_load(keys)
	if not e then return fail_missing(req, not_found(f.arn)) end
	if e.st ~= 'RUNNING' then
		return fail(req, 'ConflictException', 400, 'Pipeline execution is ' .. SM[e.st] .. ': no step can start')
	end
	if redis.call('HEXISTS', e.x, 'step:' .. f.step) == 1 then
		return fail(req, 'ConflictException', 400, 'Step \'' .. f.step .. '\' was already started')
	end
	local n = tonumber(e.nsteps) + 1
	if n > MAX_STEPS then
		return fail(req, 'ResourceLimitExceeded', 400, 'An execution runs at most ' .. MAX_STEPS .. ' steps')
	end
	local ms = now_ms()
	local step = {type = f.type, t0 = ms, n = n, timeout = tonumber(f.timeout)}
	local outs = {}
	local set = {'nsteps', n, 'run', tonumber(e.run) + 1}
	if f.type == 'Callback' then
		-- The default topic names the account, so two accounts' pipelines of one name never share it.
		step.topic = f.topic or (f.legacyTopics == '1' and ('andon.pipeline.' .. e.pipe .. '.callbacks') or
			('andon.pipeline.' .. e.acct .. '.' .. e.pipe .. '.callbacks'))
		if #step.topic > TOPIC_MAX or not string.match(step.topic, '^[%w%._%-]+$') then
			return fail(req, 'ValidationException', 400, 'The default callback topic of pipeline \'' .. e.pipe ..
				'\' is not a legal Kafka topic name (1-' .. TOPIC_MAX .. ' of [a-zA-Z0-9._-]): give Topic')
		end
		local seed = e.arn .. '\n' .. f.step .. '\n' .. req.id .. '\n' .. ms
		step.token = new_token(seed)
		while redis.call('HEXISTS', e.x, 'tok:' .. step.token) == 1 do
			seed = seed .. '+'
			step.token = new_token(seed)
		end
		set[#set + 1] = 'tok:' .. step.token
		set[#set + 1] = f.step
		-- 'cbs': the callback steps, in start order, so that a stop reads only those (sm_stop).
		set[#set + 1] = 'cbs'
		set[#set + 1] = callback_steps(e) .. f.step .. '\n'
		set[#set + 1] = 'args:' .. f.step
		set[#set + 1] = f.args or EMPTY_MAP
	end
	redis.call('HSET', e.x, unpack(set))
	e.run = tonumber(e.run) + 1
	outs[1] = step_change(e, req, ms, f.step, step, 'Executing')
	if step.token then
		-- The index comes first: the worker writes it before the handler can see the message.
		outs[#outs + 1] = out(OUT.INDEX, 'andon:{sm-token:' .. step.token .. '}:exec', e.arn)
		outs[#outs + 1] = callback_message(e, f.step, step, 'Executing')
	end
	if step.timeout then
		local kind = f.type == 'Lambda' and 'L' or 'C'
		outs[#outs + 1] = timer('sm_timer', e.arn, kind .. ':' .. f.step, ms + step.timeout * 1000)
	end
	return answer(req, true, {PipelineExecutionArn = e.arn, StepName = f.step, CallbackToken = step.token}, outs)
end

-- The reply of compact stop answer c (see sm_stop): the arguments of each stopped step, read from x (they
-- are not stored with the answer: they can be large, and they never change), and an '@owed' output for
-- each (the step owes an answer since the stop, docs/REDIS.md section 9).
local function stop_reply(dup, x, c)
	local reply = {dup, 1, c}
	for i = 10, #c, 5 do
		c[i] = redis.call('HGET', x, 'args:' .. c[i - 4]) or EMPTY_MAP
		for _, v in ipairs({OUT.OWED, c[1] .. '\n' .. c[i - 4], tostring(c[2])}) do reply[#reply + 1] = v end
	end
	-- A stop that waits for callback steps, with a StopTimeoutSeconds: its durable deadline (escalation).
	local v = redis.call('HMGET', x, 'st', 'stodue', 'stos')
	if v[1] == 'STOPPING' and v[2] then
		add_out(reply, timer('sm_stop_timeout', c[1], v[3], tonumber(v[2])))
	end
	-- The pipeline's List index follows the status (docs/REDIS.md, section 13).
	return add_out(reply, listed_of(x))
end

-- The reply of compact callback answer c (see sm_callback): a step a stop waited for has answered; when that
-- ended the stop, the pipeline's List index follows.
local function callback_reply(dup, x, c)
	local reply = {dup, 1, c}
	if c[7] == 'Stopping' then add_out(reply, out(OUT.ANSWERED, c[1] .. '\n' .. c[3], '')) end
	if c[9] ~= '' then add_out(reply, listed_of(x)) end
	return reply
end

-- The final change of a stop once no step runs (settle(), without tables): appends its entry to hist and
-- its fields to set, and returns its status and history id, or '' and 0 while steps still run.
local function settle_compact(e, id, ms, hist, set)
	if e.st ~= 'STOPPING' or tonumber(e.run) > 0 then return '', 0 end
	local st, reason = 'STOPPED', nil
	if e.lto == '1' then st, reason = 'FAILED', 'A Lambda step timed out' end
	local hid = e.hseq + 1
	if reason then
		hist[#hist + 1] = entry(7, hid, 'timestamp', sm_date(ms), 'type', 'PipelineExecutionStatusChanged',
			'status', SM[st], 'previousStatus', SM.STOPPING, 'failureReason', reason)
	else
		hist[#hist + 1] = entry(6, hid, 'timestamp', sm_date(ms), 'type', 'PipelineExecutionStatusChanged',
			'status', SM[st], 'previousStatus', SM.STOPPING)
	end
	for _, v in ipairs({'st', st, 'hseq', hid, 't1', ms, 'end', id, 'tm', ms}) do set[#set + 1] = v end
	if reason then
		set[#set + 1] = 'reason'
		set[#set + 1] = reason
	end
	e.st, e.hseq = st, hid
	closing(e)
	tokens_expire(e)
	return SM[st], hid
end

-- SendPipelineExecutionStepSuccess/Failure, once the worker has found the token's execution.
-- KEYS: x, h, r. Fields: arn, token, result (Success|Failure), outputs? (msgpack list), FailureReason?,
-- ClientRequestToken?
-- Compact answer (api_sagemaker.c builds the reply and events): {arn, ms, step, step hid, step type,
-- step status, previous step status, execution status, final status ('' while steps run), final hid}.
local function sm_callback(keys, args)
	local req = sm_request(keys[3], args)
	local dup = seen_any(req)
	if dup then return type(dup[3]) == 'table' and callback_reply(1, keys[1], dup[3]) or dup end
	local f = req.f
	local e = sm_load(keys)
	local name = e and redis.call('HGET', e.x, 'tok:' .. f.token)
	local step = name and get_step(e, name)
	if not step or not RUNNING_STEP[step.st] then
		return fail(req, 'ResourceNotFound', 400, 'Callback token \'' .. f.token .. '\' is unknown or was already used')
	end
	local status = 'Failed'
	if f.result == 'Success' then
		-- A step that was asked to stop and reports success has stopped cleanly.
		status = step.st == 'Stopping' and 'Stopped' or 'Succeeded'
	end
	local ms, prev, reason = now_ms(), step.st, f.FailureReason
	step.st, step.t1 = status, ms
	if reason then step.reason = reason end
	local hid = e.hseq + 1
	local hist = {reason and
		entry(9, hid, 'timestamp', sm_date(ms), 'type', 'StepStatusChanged', 'stepName', name, 'stepType', step.type,
			'stepStatus', status, 'previousStepStatus', prev, 'failureReason', reason) or
		entry(8, hid, 'timestamp', sm_date(ms), 'type', 'StepStatusChanged', 'stepName', name, 'stepType', step.type,
			'stepStatus', status, 'previousStepStatus', prev)}
	e.hseq, e.run = hid, tonumber(e.run) - 1
	local set = {'step:' .. name, mp_pack(step), 'hseq', hid, 'run', e.run}
	-- Outputs are kept as the adapter packed them (describe unpacks them).
	if f.outputs then
		set[#set + 1] = 'out:' .. name
		set[#set + 1] = f.outputs
	end
	local exec = SM[e.st]
	local fin, fhid = settle_compact(e, req.id, ms, hist, set)
	redis.call('RPUSH', e.h, unpack(hist))
	redis.call('HSET', e.x, unpack(set))
	return with_extra(callback_reply(0, e.x,
		answer_compact(req, {e.arn, ms, name, hid, step.type, status, prev, exec, fin, fhid})[3]))
end

-- The engine reports that a Lambda step's function finished. KEYS: x, h, r. Fields: arn, step,
-- status (Succeeded|Failed), FailureReason?, outputs? (msgpack list).
local function sm_step_finish(keys, args)
	local req = request(keys[3], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	local e = sm_load(keys)
	if not e then return fail_missing(req, not_found(f.arn)) end
	local step = get_step(e, f.step)
	if not step then
		return fail(req, 'ResourceNotFound', 400, 'Step \'' .. f.step .. '\' does not exist')
	end
	if step.type ~= 'Lambda' then
		return fail(req, 'ValidationException', 400, 'Step \'' .. f.step .. '\' is a ' .. step.type ..
			' step: it finishes with its callback token')
	end
	if not RUNNING_STEP[step.st] then
		return fail(req, 'ConflictException', 400, 'Step \'' .. f.step .. '\' is already ' .. step.st)
	end
	local outs, st = {}, e.st
	finish_step(e, req, now_ms(), f.step, step, f.status, f.FailureReason, f.outputs and mp_unpack(f.outputs), outs)
	if e.st ~= st then outs[#outs + 1] = listed_of(e.x) end
	return answer(req, true, {PipelineExecutionArn = e.arn, StepName = f.step, StepStatus = f.status}, outs)
end

-- A step's deadline (00-core.lua, timer): member 'sm_timer\n<arn>\n<L|C>:<step>', L for a Lambda
-- step's timeout, C for a callback step's. A step that already ended makes it a no-op.
local function sm_timer(keys, args)
	local req = request(keys[3], args)
	local dup = seen(req)
	if dup then return dup end
	local kind, name = string.match(req.f.timer, '\n([LC]):([^\n]+)$')
	local e = sm_load(keys)
	local step = e and name and get_step(e, name)
	-- A deadline that outlived its execution (expired, docs/REDIS.md Lifetime) writes nothing: its firing
	-- changes nothing however often it is repeated.
	if not e then return read(true, {fired = false}) end
	if not step or not RUNNING_STEP[step.st] then return answer(req, true, {fired = false}) end
	local reason
	if kind == 'L' then
		reason = 'Lambda function did not finish within ' .. step.timeout .. ' seconds'
		e.lto = '1'
		redis.call('HSET', e.x, 'lto', 1)
	else
		reason = 'No callback within ' .. step.timeout .. ' seconds'
	end
	local outs, st = {}, e.st
	finish_step(e, req, now_ms(), name, step, 'Failed', reason, nil, outs)
	if e.st ~= st then outs[#outs + 1] = listed_of(e.x) end
	return answer(req, true, {fired = true, StepName = name}, outs)
end

-- KEYS: x, h, r. Fields: arn, ClientRequestToken, StopTimeoutSeconds?
-- Compact answer (api_sagemaker.c builds the reply, the events and the callback messages): {arn, ms,
-- execution hid (0: nothing changed), final status ('' while steps run), final hid, then per callback
-- step asked to stop: name, hid, token, topic, arguments (msgpack)}.
local function sm_stop(keys, args)
	local req = sm_request(keys[3], args)
	local dup = seen_any(req)
	if dup then
		if type(dup[3]) == 'table' then return stop_reply(1, keys[1], dup[3]) end
		return dup
	end
	local f = req.f
	local e = sm_load(keys)
	if not e then return fail_missing(req, not_found(f.arn)) end
	-- A stop in progress or done absorbs another stop, however the stop ended (Stopped, or Failed when a
	-- Lambda step timed out during it): nothing changes, and the answer follows from the state.
	if e.st == 'STOPPING' or e.st == 'STOPPED' or e.stp == '1' then return {0, 1, {e.arn, 0, 0, '', 0}} end
	if e.st ~= 'RUNNING' then
		-- An execution that ended with no stop involved refuses it, for good: not stored either.
		return read_fail('ConflictException', 400, 'Pipeline execution \'' .. e.arn .. '\' already ended: ' .. SM[e.st])
	end
	local ms = now_ms()
	local ehid = e.hseq + 1
	local hist = {entry(6, ehid, 'timestamp', sm_date(ms), 'type', 'PipelineExecutionStatusChanged',
		'status', SM.STOPPING, 'previousStatus', SM.RUNNING)}
	local set = {'st', 'STOPPING', 'tm', ms, 'stp', 1}
	local c = {e.arn, ms, ehid, '', 0}
	e.st, e.hseq = 'STOPPING', ehid
	if tonumber(e.run) > 0 then
		for name in string.gmatch(callback_steps(e), '([^\n]+)\n') do
			local step = get_step(e, name)
			if step and step.st == 'Executing' then
				local hid = e.hseq + 1
				step.st = 'Stopping'
				hist[#hist + 1] = entry(8, hid, 'timestamp', sm_date(ms), 'type', 'StepStatusChanged',
					'stepName', name, 'stepType', 'Callback', 'stepStatus', 'Stopping', 'previousStepStatus',
					'Executing')
				set[#set + 1] = 'step:' .. name
				set[#set + 1] = mp_pack(step)
				e.hseq = hid
				for _, v in ipairs({name, hid, step.token, step.topic, ''}) do c[#c + 1] = v end
			end
		end
	end
	c[4], c[5] = settle_compact(e, req.id, ms, hist, set)
	set[#set + 1] = 'hseq'
	set[#set + 1] = e.hseq
	-- Escalation: the stop's StopTimeoutSeconds, else the start's. stop_reply() turns it into a deadline.
	local sto = f.StopTimeoutSeconds or (e.sto ~= '' and e.sto) or nil
	if sto and e.st == 'STOPPING' then
		for _, v in ipairs({'stodue', ms + tonumber(sto) * 1000, 'stos', sto}) do set[#set + 1] = v end
	end
	redis.call('RPUSH', e.h, unpack(hist))
	redis.call('HSET', e.x, unpack(set))
	answer_compact(req, c)
	return with_extra(stop_reply(0, e.x, c))
end

-- The engine reports that the execution ended. KEYS: x, h, r. Fields: arn, status (Succeeded|Failed),
-- FailureReason?
local function sm_finish(keys, args)
	local req = request(keys[3], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	local e = sm_load(keys)
	if not e then return fail_missing(req, not_found(f.arn)) end
	if e.st ~= 'RUNNING' then
		return fail(req, 'ConflictException', 400, 'Pipeline execution is ' .. SM[e.st] .. ': it cannot finish')
	end
	if tonumber(e.run) > 0 then
		return fail(req, 'ConflictException', 400, e.run .. ' step(s) still running')
	end
	local st = f.status == 'Succeeded' and 'SUCCEEDED' or 'FAILED'
	local ev = exec_change(e, req, now_ms(), st, f.FailureReason)
	return answer(req, true, {PipelineExecutionArn = e.arn, PipelineExecutionStatus = SM[st]}, {ev, listed_of(e.x)})
end

-- KEYS: x. Fields: arn. The execution with its steps in start order.
local function sm_describe(keys, args)
	local f = fields(args)
	local x, steps = read_all(keys[1])
	if not x.st or not owned(x.acct) then return read_fail(not_found(f.arn)) end
	local last = tonumber(x.tm or x.t0)
	local list = {}
	for i, s in ipairs(steps) do
		local out = x['out:' .. s.name]
		local meta = {CallbackToken = s.token, OutputParameters = s.outputs or (out and mp_unpack(out)),
			TimeoutSeconds = s.timeout}
		list[i] = {StepName = s.name, StepType = s.type, StepStatus = s.st, StartTime = sm_date(s.t0),
			EndTime = s.t1 and sm_date(s.t1), FailureReason = s.reason, Metadata = details({[s.type] = details(meta)})}
		last = math.max(last, s.t1 or s.t0)
	end
	return read(true, {PipelineExecutionArn = x.arn, PipelineArn = x.parr, PipelineExecutionStatus = SM[x.st],
		CreationTime = sm_date(tonumber(x.t0)), LastModifiedTime = sm_date(last), FailureReason = x.reason,
		PipelineParameters = x.params ~= '' and mp_unpack(x.params) or nil, PipelineExecutionSteps = list,
		Version = tonumber(x.hseq)})
end

-- KEYS: x, h. Fields: arn, max (1-100), NextToken?
local function sm_history(keys, args)
	local f = fields(args)
	if not load(keys[1], keys[2]) then return read_fail(not_found(f.arn)) end
	local page = history_page(keys[2], tonumber(f.max), false, f.NextToken)
	if not page then return read_fail('ValidationException', 400, 'Invalid NextToken') end
	return read(true, {PipelineExecutionHistory = page.events, NextToken = page.nextToken})
end

-- ListPipelineExecutions from the pipeline's index (docs/REDIS.md, section 13). KEYS: ix, ixs of the
-- pipeline. Fields: max (1-100), asc ('1' oldest first), from?, to? (creation bounds, epoch ms, inclusive),
-- NextToken?, retainMs?
local function sm_list(keys, args)
	local f = fields(args)
	local items, token = list_page(keys[1], keys[2], {max = tonumber(f.max), token = f.NextToken, asc = f.asc == '1',
		from = f.from and tonumber(f.from), to = f.to and tonumber(f.to), retain = tonumber(f.retainMs) or (CALL.ret or 0) * 1000},
		function(member, r)
			return {PipelineExecutionArn = r.arn, StartTime = sm_date(r.t0), PipelineExecutionStatus = SM[r.st]}
		end)
	if not items then return read_fail('ValidationException', 400, 'Invalid NextToken') end
	return read(true, {PipelineExecutionSummaries = items, NextToken = token})
end

-- A stop's escalation deadline (sm_stop with StopTimeoutSeconds): member 'sm_stop_timeout\n<arn>\n<seconds>'.
-- The callback steps still Stopping are failed with a reason that says so, and the stop completes once
-- no step runs (a Lambda step still running keeps it Stopping). A stop that ended meanwhile: a no-op.
local function sm_stop_timeout(keys, args)
	local req = request(keys[3], args)
	local dup = seen(req)
	if dup then return dup end
	local secs = string.match(req.f.timer, '\n(%d+)$')
	local e = sm_load(keys)
	if not e or e.st ~= 'STOPPING' then return answer(req, true, {escalated = false}) end
	local outs, st, ms, n = {}, e.st, now_ms(), 0
	for name in string.gmatch(callback_steps(e), '([^\n]+)\n') do
		local step = get_step(e, name)
		if step and step.st == 'Stopping' then
			finish_step(e, req, ms, name, step, 'Failed', 'No answer within StopTimeoutSeconds (' .. secs ..
				' s) after the stop', nil, outs)
			n = n + 1
		end
	end
	if e.st ~= st then outs[#outs + 1] = listed_of(e.x) end
	return answer(req, true, {escalated = n > 0, StepsFailed = n}, outs)
end

redis.register_function('sm_start', sm_start)
redis.register_function('sm_stop_timeout', sm_stop_timeout)
redis.register_function('sm_list', sm_list)
redis.register_function('sm_step_start', sm_step_start)
redis.register_function('sm_step_finish', sm_step_finish)
redis.register_function('sm_callback', sm_callback)
redis.register_function('sm_timer', sm_timer)
redis.register_function('sm_stop', sm_stop)
redis.register_function('sm_finish', sm_finish)
redis.register_function{function_name = 'sm_describe', callback = sm_describe, flags = {'no-writes'}}
redis.register_function{function_name = 'sm_history', callback = sm_history, flags = {'no-writes'}}
end
