-- Amazon SWF: domains, workflow types, workflow executions, cancel requests, termination and child policies
-- (adapter: worker/api_swf.c; keys and functions: docs/swf.md).
--
-- Two kinds of hash tag. A domain and its workflow types share 'swfd:DOMAIN:ACCOUNT' (keys d, t, r). All
-- runs of one workflowId share 'swfw:DOMAIN:WORKFLOWID:ACCOUNT' (keys w, r declared; the run keys
-- x:RUNID, h:RUNID, c:RUNID are built here from the declared w key, so they carry the same tag and stay
-- in its slot). Children live under their own workflow tags: a parent never touches them; what it asks of
-- them goes out as '@requests' with deterministic request ids.
do

local SWF = {RUNNING = 'OPEN', SUCCEEDED = 'COMPLETED', FAILED = 'FAILED', CANCELED = 'CANCELED',
	TERMINATED = 'TERMINATED', TIMED_OUT = 'TIMED_OUT'}

-- SWF dates are epoch seconds with milliseconds.
local function swf_date(ms) return ms / 1000 end

-- The key prefix 'andon:{TAG}:' of a declared key that ends with suffix.
local function prefix_of(key, suffix) return string.sub(key, 1, #key - #suffix) end

local function nonempty(s)
	if s and s ~= '' then return s end
	return nil
end

local function unknown_execution(wid, rid)
	return 'UnknownResourceFault', 400, 'Unknown execution: WorkflowExecution=[workflowId=' .. wid ..
		(rid and (', runId=' .. rid) or '') .. ']'
end

local function unknown_type(name, version)
	return 'UnknownResourceFault', 400, 'Unknown type: WorkflowType=[name=' .. name .. ', version=' .. version .. ']'
end

-- Run fields beyond the common ones (docs/swf.md, run hash).
local RUN = {'dom', 'wid', 'rid', 'acct', 'tn', 'tv', 'cp', 'tcp', 'tl', 'dtopic', 'creq', 'pwid', 'prid', 'tmo',
	'ret', 'esc'}

-- A run closes with its children list c and, unless another run opens meanwhile (swf_start persists them),
-- the workflow's keys w and r; 'ret' is the domain's retention it was started with (docs/swf.md). The
-- workflow's answer hash r follows w's expiry, not a closed run's: the workflowId may have an open run.
local function run_load(p, rid)
	local e = load(p .. 'x:' .. rid, p .. 'h:' .. rid, unpack(RUN))
	if e then
		e.owns = {p .. 'c:' .. rid, p .. 'w'}
		if CALL.closed then CALL.closed = p .. 'w' end
	end
	return e
end

-- The run a request names: rid, else the workflow's open run. Returns the run, or nil and whether the
-- workflowId has no run at all (its answers then expire like any answer about a missing resource).
local function resolve(p, wkey, rid)
	if not rid then rid = redis.call('HGET', wkey, 'cur') end
	local e = rid and run_load(p, rid)
	if e then return e end
	return nil, redis.call('EXISTS', wkey) == 0
end

local function no_run(req, empty, wid, rid)
	if empty then return fail_missing(req, unknown_execution(wid, rid)) end
	return fail(req, unknown_execution(wid, rid))
end

-- SWF's empty replies must be a msgpack map (EMPTY_MAP, 00-core.lua).
local function answer_empty(req, outs)
	return answer(req, true, EMPTY_MAP, outs)
end

-- Adds one history entry to run e (status st after it) and returns its event, which also names the entry's
-- type. e is updated, so changes can follow one another.
local function change(e, req, st, ms, etype, aname, attrs, extra)
	local entry = {eventTimestamp = swf_date(ms), eventType = etype}
	if aname then entry[aname] = details(attrs or {}) end
	local ev = transition(e, req, st, ms, entry, SWF, extra)
	ev.eventType = etype
	return ev
end

-- Run e's List output for its domain's index, andon:{swfd:DOMAIN:ACCOUNT}:ix (docs/REDIS.md section 13):
-- member and ARN slot 'wid\trid' (SWF names hold no control character), name slot 'type\tversion\tcreq'.
local function swf_listed(e)
	local id = e.wid .. '\t' .. e.rid
	return listed('swfd:' .. e.dom .. ':' .. e.acct, id, e.t0, e.hseq, e.st, e.t1, id,
		e.tn .. '\t' .. e.tv .. '\t' .. e.creq)
end

-- The Kafka key of a request about workflowId wid: all requests about one workflowId share a partition.
local function wf_key(dom, wid) return dom .. '/' .. wid end

-- Closes run e (workflow key wkey, key prefix p) in status st with its closing history entry, and hands
-- policy to every child the run started: one SWF.ApplyChildPolicy request each, with an id derived from
-- this request's id and the child's run, so a replay re-issues the same requests and each child applies
-- its own once. ABANDON (or no policy: a decider's close) leaves the children alone.
local function close(p, wkey, e, req, st, ms, etype, aname, attrs, policy, outs)
	outs[#outs + 1] = change(e, req, st, ms, etype, aname, attrs)
	outs[#outs + 1] = swf_listed(e)
	if redis.call('HGET', wkey, 'cur') == e.rid then redis.call('HDEL', wkey, 'cur') end
	if policy ~= 'TERMINATE' and policy ~= 'REQUEST_CANCEL' then return end
	local c = redis.call('HGETALL', p .. 'c:' .. e.rid)
	for i = 1, #c, 2 do
		outs[#outs + 1] = out(OUT.REQUEST, wf_key(e.dom, c[i + 1]), {v = 1,
			id = 'swf-apply-' .. redis.sha1hex(req.id .. '\n' .. c[i]), op = 'SWF.ApplyChildPolicy',
			account = e.acct, body = {domain = e.dom, workflowId = c[i + 1], runId = c[i], childPolicy = policy,
				parentWorkflowExecution = {workflowId = e.wid, runId = e.rid}, parentEventId = e.hseq}})
	end
end

-- Records a cancel request on open run e and schedules a decision task: a message on the domain's
-- decision topic, so that the decider can close the run. The task names its account: a topic given by
-- decisionTopic may be shared by several accounts' domains.
-- A cancel request escalates (Andon extension): after the request's escalateAfterSeconds, else the
-- domain's (copied into the run at start), a durable deadline terminates the run if it is still open.
local function request_cancel(e, req, ms, attrs, outs)
	outs[#outs + 1] = change(e, req, 'RUNNING', ms, 'WorkflowExecutionCancelRequested',
		'workflowExecutionCancelRequestedEventAttributes', attrs, {'creq', '1'})
	e.creq = '1'
	outs[#outs + 1] = swf_listed(e)
	local esc = req.f.escalateAfterSeconds or nonempty(e.esc)
	if esc then
		-- The run's tag, as the adapter builds it; rest: the runId and the seconds, for the reason.
		outs[#outs + 1] = timer('swf_escalate', 'swfw:' .. e.dom .. ':' .. e.wid .. ':' .. e.acct,
			e.rid .. '\t' .. esc, ms + tonumber(esc) * 1000)
	end
	outs[#outs + 1] = out(e.dtopic, wf_key(e.dom, e.wid), {v = 1, decisionTaskId = e.rid .. ':' .. e.hseq,
		account = e.acct, domain = e.dom, workflowExecution = {workflowId = e.wid, runId = e.rid},
		workflowType = {name = e.tn, version = e.tv}, taskList = e.tl ~= '' and {name = e.tl} or nil,
		reason = 'WorkflowExecutionCancelRequested', eventId = e.hseq, cause = attrs and attrs.cause,
		time = ms, requestId = req.id})
end

-- The child policy a run hands its children when it times out: the one given at start, else its type's
-- default, else none (ABANDON). A run its decider closes (completed, failed, canceled) hands nothing on:
-- SWF applies the policy only when a run is terminated or times out.
local function own_policy(e)
	return nonempty(e.cp) or nonempty(e.tcp) or 'ABANDON'
end

-- KEYS: d, r of the domain. Fields: name, account, decisionTopic, description?
local function swf_register_domain(keys, args)
	local req = request(keys[2], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	if redis.call('EXISTS', keys[1]) == 1 then
		return fail(req, 'DomainAlreadyExistsFault', 400, 'Domain already exists: ' .. f.name)
	end
	redis.call('HSET', keys[1], 'name', f.name, 'acct', f.account, 'dtopic', f.decisionTopic,
		'desc', f.description or '', 't0', now_ms(), 'esc', f.escalateAfterSeconds or '')
	if f.retention then redis.call('HSET', keys[1], 'ret', f.retention) end
	redis.call('PERSIST', req.r)
	return answer_empty(req, {})
end

-- KEYS: d, t, r of the domain. Fields: domain, name, version, defaultChildPolicy?, defaultTaskList?,
-- description?
local function swf_register_type(keys, args)
	local req = request(keys[3], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	if redis.call('EXISTS', keys[1]) == 0 then
		return fail_missing(req, 'UnknownResourceFault', 400, 'Unknown domain: ' .. f.domain)
	end
	local field = f.name .. '\n' .. f.version
	if redis.call('HEXISTS', keys[2], field) == 1 then
		return fail(req, 'TypeAlreadyExistsFault', 400,
			'WorkflowType=[name=' .. f.name .. ', version=' .. f.version .. ']')
	end
	redis.call('HSET', keys[2], field, mp_pack({cp = f.defaultChildPolicy or '', tl = f.defaultTaskList or '',
		desc = f.description or '', t0 = now_ms()}))
	return answer_empty(req, {})
end

-- What a start needs of its domain and type, read in the chunk's first round so that swf_start touches
-- only the workflow's slot. KEYS: d, t of the domain. Arguments: 'typeName', name, 'typeVersion', version.
-- Returns nil when the domain does not exist, else "acct\ndtopic\nret\nesc\ntype" (type: the type's msgpack record,
-- empty when the type is not registered).
local function swf_start_get(keys, args)
	local dom = redis.call('HMGET', keys[1], 'dtopic', 'acct', 'ret', 'esc')
	if not dom[1] then return nil end
	local ty = redis.call('HGET', keys[2], args[2] .. '\n' .. args[4])
	return (dom[2] or '') .. '\n' .. dom[1] .. '\n' .. (dom[3] or '') .. '\n' .. (dom[4] or '') .. '\n' .. (ty or '')
end

-- Starts a run, as the client's StartWorkflowExecution or as the child start a parent handed on.
-- KEYS: w, r of the workflow. Fields: domain, workflowId, account, arn (the run's resource name without
-- the runId), typeName, typeVersion, childPolicy?, input?, taskList?, timeout?, dom? (swf_start_get's
-- answer; absent: no such domain); a child adds runId, parentWorkflowId, parentRunId,
-- parentInitiatedEventId.
local function swf_start(keys, args)
	local req = request(keys[2], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	local empty = redis.call('EXISTS', keys[1]) == 0
	local function missing(code, status, message)
		if empty then return fail_missing(req, code, status, message) end
		return fail(req, code, status, message)
	end
	local d1 = f.dom and string.find(f.dom, '\n', 1, true)
	local d2 = d1 and string.find(f.dom, '\n', d1 + 1, true)
	local d3 = d2 and string.find(f.dom, '\n', d2 + 1, true)
	local d4 = d3 and string.find(f.dom, '\n', d3 + 1, true)
	local acct = d4 and string.sub(f.dom, 1, d1 - 1)
	local dtopic = d4 and owned(acct ~= '' and acct or nil) and string.sub(f.dom, d1 + 1, d2 - 1)
	local dret = d4 and string.sub(f.dom, d2 + 1, d3 - 1)
	local desc = d4 and string.sub(f.dom, d3 + 1, d4 - 1)
	if not dtopic then return missing('UnknownResourceFault', 400, 'Unknown domain: ' .. f.domain) end
	local ty = string.sub(f.dom, d4 + 1)
	if ty == '' then return missing(unknown_type(f.typeName, f.typeVersion)) end
	ty = mp_unpack(ty)
	local p = prefix_of(keys[1], 'w')
	local rid = f.runId or redis.sha1hex(p .. '\n' .. req.id)
	if redis.call('HEXISTS', keys[1], 'cur') == 1 or redis.call('EXISTS', p .. 'x:' .. rid) == 1 then
		return fail(req, 'WorkflowExecutionAlreadyStartedFault', 400,
			'Workflow execution already started: WorkflowExecution=[workflowId=' .. f.workflowId .. ']')
	end
	local ms = now_ms()
	local tl = f.taskList or ty.tl
	local attrs = {input = f.input, childPolicy = f.childPolicy or nonempty(ty.cp),
		taskList = tl ~= '' and {name = tl} or nil, workflowType = {name = f.typeName, version = f.typeVersion},
		executionStartToCloseTimeout = f.timeout}
	if f.parentRunId then
		attrs.parentWorkflowExecution = {workflowId = f.parentWorkflowId, runId = f.parentRunId}
		attrs.parentInitiatedEventId = tonumber(f.parentInitiatedEventId)
	end
	local ev = create(p .. 'x:' .. rid, p .. 'h:' .. rid, req, 'SWF', f.arn .. rid, 'RUNNING', ms,
		{eventTimestamp = swf_date(ms), eventType = 'WorkflowExecutionStarted',
			workflowExecutionStartedEventAttributes = attrs},
		SWF, {'dom', f.domain, 'wid', f.workflowId, 'rid', rid, 'acct', f.account, 'tn', f.typeName,
			'tv', f.typeVersion, 'cp', f.childPolicy or '', 'tcp', ty.cp, 'tl', tl, 'input', f.input or '',
			'dtopic', dtopic, 'creq', '0', 'pwid', f.parentWorkflowId or '', 'prid', f.parentRunId or '',
			'tmo', f.timeout or '', 'ret', (dret ~= '' and dret) or CALL.ret or '', 'esc', desc or ''})
	ev.eventType = 'WorkflowExecutionStarted'
	redis.call('HSET', keys[1], 'cur', rid, 'last', rid)
	-- An open run keeps the workflow's keys: a closed run's expiry is lifted (create() did r).
	redis.call('PERSIST', keys[1])
	local outs = {ev, swf_listed({dom = f.domain, acct = f.account, wid = f.workflowId, rid = rid, t0 = ms, hseq = 1,
		st = 'RUNNING', tn = f.typeName, tv = f.typeVersion, creq = '0'})}
	if f.timeout then
		-- The tag is the text between the braces of the prefix 'andon:{TAG}:'.
		outs[3] = timer('swf_timeout', string.sub(p, 8, -3), rid, ms + tonumber(f.timeout) * 1000)
	end
	return answer(req, true, {runId = rid}, outs)
end

-- The parent's side of a child start. KEYS: w, r of the parent's workflow. Fields: domain, workflowId,
-- runId?, childWorkflowId, childTypeName?, childTypeVersion?, childPolicy?, input?, taskList?, timeout?
local function swf_start_child(keys, args)
	local req = request(keys[2], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	local p = prefix_of(keys[1], 'w')
	local e, empty = resolve(p, keys[1], f.runId)
	if not e or TERMINAL[e.st] then return no_run(req, empty, f.workflowId, f.runId) end
	local crid = redis.sha1hex('child\n' .. p .. '\n' .. req.id)
	local ty = {name = f.childTypeName or e.tn, version = f.childTypeVersion or e.tv}
	local tl = f.taskList and {name = f.taskList} or nil
	local ev = change(e, req, 'RUNNING', now_ms(), 'StartChildWorkflowExecutionInitiated',
		'startChildWorkflowExecutionInitiatedEventAttributes', {workflowId = f.childWorkflowId, workflowType = ty,
			childPolicy = f.childPolicy, input = f.input, taskList = tl, executionStartToCloseTimeout = f.timeout})
	redis.call('HSET', p .. 'c:' .. e.rid, crid, f.childWorkflowId)
	local start = {v = 1, id = 'swf-start-' .. crid, op = 'SWF.StartChildRun', account = e.acct,
		body = {domain = e.dom, workflowId = f.childWorkflowId, workflowType = ty, childPolicy = f.childPolicy,
			input = f.input, taskList = tl, executionStartToCloseTimeout = f.timeout, runId = crid,
			parentWorkflowExecution = {workflowId = e.wid, runId = e.rid}, parentInitiatedEventId = e.hseq}}
	return answer(req, true, {runId = crid}, {ev, out(OUT.REQUEST, wf_key(e.dom, f.childWorkflowId), start)})
end

-- KEYS: w, r. Fields: domain, workflowId, runId?
local function swf_request_cancel(keys, args)
	local req = request(keys[2], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	local p = prefix_of(keys[1], 'w')
	local e, empty = resolve(p, keys[1], f.runId)
	if not e or TERMINAL[e.st] then return no_run(req, empty, f.workflowId, f.runId) end
	-- A run asked to cancel already: the request is absorbed, no second event, no second decision task.
	if e.creq == '1' then return answer_empty(req, {}) end
	local outs = {}
	request_cancel(e, req, now_ms(), nil, outs)
	return answer_empty(req, outs)
end

-- KEYS: w, r. Fields: domain, workflowId, runId?, reason?, details?, childPolicy?
local function swf_terminate(keys, args)
	local req = request(keys[2], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	local p = prefix_of(keys[1], 'w')
	local e, empty = resolve(p, keys[1], f.runId)
	if not e or TERMINAL[e.st] then return no_run(req, empty, f.workflowId, f.runId) end
	local policy = f.childPolicy or nonempty(e.cp) or nonempty(e.tcp)
	if not policy then
		return fail(req, 'DefaultUndefinedFault', 400, 'No child policy was given, none was set at start and ' ..
			'the workflow type has no default: WorkflowType=[name=' .. e.tn .. ', version=' .. e.tv .. ']')
	end
	local outs = {}
	close(p, keys[1], e, req, 'TERMINATED', now_ms(), 'WorkflowExecutionTerminated',
		'workflowExecutionTerminatedEventAttributes', {reason = f.reason, details = f.details, childPolicy = policy,
			cause = 'OPERATOR_INITIATED'}, policy, outs)
	return answer_empty(req, outs)
end

-- A parent's child policy reaching one child. KEYS: w, r of the child's workflow. Fields: domain,
-- workflowId, runId, childPolicy (TERMINATE or REQUEST_CANCEL), parentWorkflowId, parentRunId, parentEventId.
-- Never a fault: a run that is missing, closed, or (REQUEST_CANCEL) already asked to cancel is left alone.
local function swf_apply(keys, args)
	local req = request(keys[2], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	local p = prefix_of(keys[1], 'w')
	local e = run_load(p, f.runId)
	if not e or TERMINAL[e.st] or (f.childPolicy == 'REQUEST_CANCEL' and e.creq == '1') then
		local o = answer(req, true, {applied = false})
		if not e and redis.call('EXISTS', keys[1]) == 0 then redis.call('EXPIRE', req.r, MISSING_TTL) end
		return o
	end
	local ms, outs = now_ms(), {}
	if f.childPolicy == 'TERMINATE' then
		-- The child hands its own policy on; with none of its own it passes the parent's on (TERMINATE).
		local policy = nonempty(e.cp) or nonempty(e.tcp) or f.childPolicy
		close(p, keys[1], e, req, 'TERMINATED', ms, 'WorkflowExecutionTerminated',
			'workflowExecutionTerminatedEventAttributes', {childPolicy = policy, cause = 'CHILD_POLICY_APPLIED'},
			policy, outs)
	else
		request_cancel(e, req, ms, {cause = 'CHILD_POLICY_APPLIED',
			externalWorkflowExecution = {workflowId = f.parentWorkflowId, runId = f.parentRunId},
			externalInitiatedEventId = tonumber(f.parentEventId)}, outs)
	end
	return answer(req, true, {applied = true}, outs)
end

local CLOSE = {
	COMPLETE = {'SUCCEEDED', 'WorkflowExecutionCompleted', 'workflowExecutionCompletedEventAttributes'},
	FAIL = {'FAILED', 'WorkflowExecutionFailed', 'workflowExecutionFailedEventAttributes'},
	CANCEL = {'CANCELED', 'WorkflowExecutionCanceled', 'workflowExecutionCanceledEventAttributes'},
}

-- The decider closes its run. KEYS: w, r. Fields: domain, workflowId, runId, decision (COMPLETE, FAIL or
-- CANCEL), result?, reason?, details?
local function swf_close(keys, args)
	local req = request(keys[2], args)
	local dup = seen(req)
	if dup then return dup end
	local f = req.f
	local p = prefix_of(keys[1], 'w')
	local e, empty = resolve(p, keys[1], f.runId)
	if not e or TERMINAL[e.st] then return no_run(req, empty, f.workflowId, f.runId) end
	if f.decision == 'CANCEL' and e.creq ~= '1' then
		return fail(req, 'OperationNotPermittedFault', 400, 'No cancel was requested: WorkflowExecution=[workflowId=' ..
			e.wid .. ', runId=' .. e.rid .. ']')
	end
	-- No policy: the children of a run its decider closes keep running (docs/swf.md, 3.5).
	local k, outs = CLOSE[f.decision], {}
	close(p, keys[1], e, req, k[1], now_ms(), k[2], k[3],
		{result = f.result, reason = f.reason, details = f.details}, nil, outs)
	return answer_empty(req, outs)
end

-- A run's executionStartToCloseTimeout fired. KEYS: x, h, r of the workflow tag (the timer convention,
-- docs/REDIS.md section 7; only r is used). Field: timer = 'swf_timeout\nTAG\nRUNID'.
local function swf_timeout(keys, args)
	local req = request(keys[3], args)
	local dup = seen(req)
	if dup then return dup end
	local p = prefix_of(keys[3], 'r')
	local e = run_load(p, string.match(req.f.timer, '^[^\n]*\n[^\n]*\n(.*)$'))
	-- A deadline that outlived its run (expired, docs/REDIS.md Lifetime) writes nothing: its firing changes
	-- nothing however often it is repeated.
	if not e then return read(true, {timedOut = false}) end
	if TERMINAL[e.st] then return answer(req, true, {timedOut = false}) end
	local outs, policy = {}, own_policy(e)
	close(p, p .. 'w', e, req, 'TIMED_OUT', now_ms(), 'WorkflowExecutionTimedOut',
		'workflowExecutionTimedOutEventAttributes', {timeoutType = 'START_TO_CLOSE', childPolicy = policy}, policy,
		outs)
	return answer(req, true, {timedOut = true}, outs)
end

-- KEYS: w. Fields: workflowId, runId.
local function swf_describe(keys, args)
	local f = fields(args)
	local p = prefix_of(keys[1], 'w')
	local v = redis.call('HMGET', p .. 'x:' .. f.runId, 'st', 't0', 't1', 'tn', 'tv', 'cp', 'tcp', 'tl', 'creq',
		'pwid', 'prid', 'tmo', 'acct')
	if not v[1] or not owned(v[13]) then return read_fail(unknown_execution(f.workflowId, f.runId)) end
	local info = {execution = {workflowId = f.workflowId, runId = f.runId},
		workflowType = {name = v[4], version = v[5]}, startTimestamp = swf_date(tonumber(v[2])),
		executionStatus = TERMINAL[v[1]] and 'CLOSED' or 'OPEN', cancelRequested = v[9] == '1'}
	if TERMINAL[v[1]] then
		info.closeStatus = SWF[v[1]]
		info.closeTimestamp = swf_date(tonumber(v[3]))
	end
	if v[11] ~= '' then info.parent = {workflowId = v[10], runId = v[11]} end
	local conf = {childPolicy = nonempty(v[6]) or nonempty(v[7]), taskList = v[8] ~= '' and {name = v[8]} or nil,
		executionStartToCloseTimeout = nonempty(v[12])}
	return read(true, {executionInfo = info, executionConfiguration = conf})
end

-- KEYS: w. Fields: workflowId, runId, maxPageSize (0 = 1000), reverseOrder (1/0), nextPageToken?
local function swf_history(keys, args)
	local f = fields(args)
	local p = prefix_of(keys[1], 'w')
	if not run_load(p, f.runId) then
		return read_fail(unknown_execution(f.workflowId, f.runId))
	end
	local max = tonumber(f.maxPageSize)
	if max == 0 then max = 1000 end
	local page = history_page(p .. 'h:' .. f.runId, max, f.reverseOrder == '1', f.nextPageToken)
	if not page then
		return read_fail('ValidationException', 400, 'Invalid nextPageToken: \'' .. f.nextPageToken .. '\'')
	end
	-- Entries are stored with the engine's id and previousEventId; SWF calls the id eventId.
	for i = 1, #page.events do
		local ev = page.events[i]
		ev.eventId, ev.id, ev.previousEventId = ev.id, nil, nil
	end
	return read(true, {events = page.events, nextPageToken = page.nextToken})
end

-- ListOpenWorkflowExecutions / ListClosedWorkflowExecutions from the domain's index (docs/REDIS.md section
-- 10). KEYS: d, ix, ixs of the domain. Fields: domain, open ('1' open runs, '0' closed), max, reverse ('1'
-- oldest first), from?, to? (start bounds), cfrom?, cto? (close bounds; epoch ms, inclusive), typeName?,
-- typeVersion?, workflowId?, closeStatus? (engine), noTags? ('1': a tagFilter, which nothing matches),
-- nextPageToken?, retainMs?
local function swf_list(keys, args)
	local f = fields(args)
	local acct = redis.call('HGET', keys[1], 'acct')
	if not acct or not owned(acct) then return read_fail('UnknownResourceFault', 400, 'Unknown domain: ' .. f.domain) end
	local open = f.open == '1'
	local cfrom, cto = f.cfrom and tonumber(f.cfrom), f.cto and tonumber(f.cto)
	local items, token = list_page(keys[2], keys[3], {max = tonumber(f.max), token = f.nextPageToken,
		asc = f.reverse == '1', from = f.from and tonumber(f.from), to = f.to and tonumber(f.to),
		retain = tonumber(f.retainMs) or (CALL.ret or 0) * 1000}, function(member, r)
			if f.noTags or open ~= (r.st == 'RUNNING') then return nil end
			if (cfrom and (not r.t1 or r.t1 < cfrom)) or (cto and (not r.t1 or r.t1 > cto)) then return nil end
			if f.closeStatus and r.st ~= f.closeStatus then return nil end
			local wid, rid = string.match(r.arn, '^([^\t]*)\t(.*)$')
			local tn, tv, creq = string.match(r.name, '^([^\t]*)\t([^\t]*)\t(.*)$')
			if not wid or not tn or (f.workflowId and wid ~= f.workflowId) or (f.typeName and tn ~= f.typeName) or
				(f.typeVersion and tv ~= f.typeVersion) then
				return nil
			end
			return {execution = {workflowId = wid, runId = rid}, workflowType = {name = tn, version = tv},
				startTimestamp = swf_date(r.t0), closeTimestamp = r.t1 and swf_date(r.t1) or nil,
				executionStatus = open and 'OPEN' or 'CLOSED', closeStatus = not open and SWF[r.st] or nil,
				cancelRequested = creq == '1'}
		end)
	if not items then return read_fail('ValidationException', 400, 'Invalid nextPageToken') end
	return read(true, {executionInfos = items, nextPageToken = token})
end

-- A cancel request's escalation deadline (request_cancel()): member 'swf_escalate\nTAG\nRUNID\tSECONDS'. A
-- run still open is terminated, its child policy applied as for any terminate (the start's, else the
-- type's default, else ABANDON), with a reason that says so; a run that closed meanwhile makes it a no-op.
-- KEYS: x, h, r of the workflow tag (timer convention; only r is used).
local function swf_escalate(keys, args)
	local req = request(keys[3], args)
	local dup = seen(req)
	if dup then return dup end
	local p = prefix_of(keys[3], 'r')
	local rid, secs = string.match(req.f.timer, '^[^\n]*\n[^\n]*\n([^\t]*)\t(%d+)$')
	local e = rid and run_load(p, rid)
	if not e or TERMINAL[e.st] or e.creq ~= '1' then return answer(req, true, {escalated = false}) end
	local outs, policy = {}, own_policy(e)
	close(p, p .. 'w', e, req, 'TERMINATED', now_ms(), 'WorkflowExecutionTerminated',
		'workflowExecutionTerminatedEventAttributes', {reason = 'Andon escalation: the cancel request was not ' ..
			'honoured within ' .. secs .. ' seconds', childPolicy = policy, cause = 'OPERATOR_INITIATED'}, policy, outs)
	return answer(req, true, {escalated = true}, outs)
end

redis.register_function('swf_list', swf_list)
redis.register_function('swf_escalate', swf_escalate)
redis.register_function('swf_register_domain', swf_register_domain)
redis.register_function('swf_register_type', swf_register_type)
redis.register_function('swf_start', swf_start)
redis.register_function{function_name = 'swf_start_get', callback = swf_start_get, flags = {'no-writes'}}
redis.register_function('swf_start_child', swf_start_child)
redis.register_function('swf_request_cancel', swf_request_cancel)
redis.register_function('swf_terminate', swf_terminate)
redis.register_function('swf_apply', swf_apply)
redis.register_function('swf_close', swf_close)
redis.register_function('swf_timeout', swf_timeout)
redis.register_function{function_name = 'swf_describe', callback = swf_describe, flags = {'no-writes'}}
redis.register_function{function_name = 'swf_history', callback = swf_history, flags = {'no-writes'}}
end
