/* harness-sagemaker: SageMaker pipeline helpers over the harness. */
#include "harness-sagemaker.h"

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int ok(json_t *reply)
{
	return reply != NULL && json_is_true(json_object_get(reply, "ok"));
}

static void fail_reply(const char *what, json_t *reply)
{
	char *s = json_dumps(reply, 0);

	fprintf(stderr, "harness-sagemaker: %s failed: %s\n", what, s ? s : "(no reply)");
	free(s);
	abort();
}

char *hs_start(const char *pipeline)
{
	json_t *r = h_call("SageMaker.StartPipelineExecution", json_pack("{s:s}", "PipelineName", pipeline));

	if (!ok(r))
		fail_reply("StartPipelineExecution", r);
	return strdup(json_string_value(json_object_get(json_object_get(r, "body"), "PipelineExecutionArn")));
}

char *hs_step(const char *arn, const char *step, const char *type, const char *topic, int timeout)
{
	json_t *body =
	    json_pack("{s:s, s:s, s:s}", "PipelineExecutionArn", arn, "StepName", step, "StepType", type);
	const char *token;
	json_t *r;

	if (topic != NULL)
		json_object_set_new(body, "Topic", json_string(topic));
	if (timeout > 0)
		json_object_set_new(body, "TimeoutSeconds", json_integer(timeout));
	if (strcmp(type, "Callback") == 0)
		json_object_set_new(body, "Arguments", json_pack("{s:s, s:i}", "step", step, "n", 7));
	r = h_call("SageMaker.StartPipelineExecutionStep", body);
	if (!ok(r))
		fail_reply("StartPipelineExecutionStep", r);
	token = json_string_value(json_object_get(json_object_get(r, "body"), "CallbackToken"));
	return token != NULL ? strdup(token) : NULL;
}

json_t *hs_describe(const char *arn)
{
	json_t *r =
	    h_call("SageMaker.DescribePipelineExecution", json_pack("{s:s}", "PipelineExecutionArn", arn));

	if (!ok(r))
		return NULL;
	return json_incref(json_object_get(r, "body"));
}

const char *hs_status(const char *arn)
{
	static char buf[32];
	json_t *d = hs_describe(arn);

	snprintf(buf, sizeof(buf), "%s",
		 d ? json_string_value(json_object_get(d, "PipelineExecutionStatus")) : "(missing)");
	json_decref(d);
	return buf;
}

const char *hs_step_status(const char *arn, const char *step)
{
	static char buf[32];
	json_t *d = hs_describe(arn), *s;
	size_t i;

	buf[0] = '\0';
	json_array_foreach(json_object_get(d, "PipelineExecutionSteps"), i, s)
	{
		if (strcmp(json_string_value(json_object_get(s, "StepName")), step) == 0)
			snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(s, "StepStatus")));
	}
	json_decref(d);
	return buf;
}

int hs_wait_status(const char *arn, const char *status, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;

	while (strcmp(hs_status(arn), status) != 0) {
		if (h_now_ms() >= deadline)
			return -1;
		h_pump(20);
	}
	return 0;
}

size_t hs_messages(const char *topic, const char *token, const char *status)
{
	json_t *msgs = h_topic(topic), *m;
	size_t i, n = 0;

	json_array_foreach(msgs, i, m)
	{
		json_t *v = json_object_get(m, "value");
		const char *t = json_string_value(json_object_get(v, "token"));
		const char *s = json_string_value(json_object_get(v, "status"));
		if (t != NULL && s != NULL && strcmp(t, token) == 0 && strcmp(s, status) == 0)
			n++;
	}
	return n;
}

int hs_wait_message(const char *topic, const char *token, const char *status, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;

	while (hs_messages(topic, token, status) == 0) {
		if (h_now_ms() >= deadline)
			return -1;
		h_pump(20);
	}
	return 0;
}

const char *hs_topic(const char *pipeline)
{
	static char buf[300];

	snprintf(buf, sizeof(buf), "andon.pipeline.%s.%s.callbacks", H_ACCOUNT, pipeline);
	return buf;
}

json_t *hs_stop_body(const char *arn)
{
	static unsigned long n;
	char token[64];

	/* SageMaker requires a ClientRequestToken of 32-128 characters on a stop; each stop gets its own. */
	snprintf(token, sizeof(token), "stop-token-%d-%08lu-0123456789abcdef", (int)getpid(), ++n);
	return json_pack("{s:s, s:s}", "PipelineExecutionArn", arn, "ClientRequestToken", token);
}

json_t *hs_result(const char *token, int success, const char *reason)
{
	json_t *body = json_pack("{s:s}", "CallbackToken", token);

	if (!success && reason != NULL)
		json_object_set_new(body, "FailureReason", json_string(reason));
	if (success)
		json_object_set_new(body, "OutputParameters",
				    json_pack("[{s:s, s:s}]", "Name", "result", "Value", "42"));
	return h_call(success ? "SageMaker.SendPipelineExecutionStepSuccess"
			      : "SageMaker.SendPipelineExecutionStepFailure",
		      body);
}

int hs_history_count(const char *arn, const char *step, const char *status)
{
	json_t *r, *e;
	const char *token = NULL;
	char *next = NULL;
	size_t i;
	int n = 0;

	do {
		json_t *body = json_pack("{s:s}", "PipelineExecutionArn", arn);
		if (token != NULL)
			json_object_set_new(body, "NextToken", json_string(token));
		r = h_call("SageMaker.ListPipelineExecutionHistory", body);
		if (!ok(r))
			fail_reply("ListPipelineExecutionHistory", r);
		json_array_foreach(json_object_get(json_object_get(r, "body"), "PipelineExecutionHistory"), i,
				   e)
		{
			const char *s = json_string_value(json_object_get(e, step ? "stepStatus" : "status"));
			const char *name = json_string_value(json_object_get(e, "stepName"));
			if (s == NULL || strcmp(s, status) != 0)
				continue;
			if (step != NULL ? (name != NULL && strcmp(name, step) == 0) : name == NULL)
				n++;
		}
		free(next);
		token = json_string_value(json_object_get(json_object_get(r, "body"), "NextToken"));
		next = token ? strdup(token) : NULL;
		token = next;
	} while (token != NULL);
	return n;
}
