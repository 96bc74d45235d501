/* andon-inspect: shows one execution of any API (status, times, steps and what they owe, history, an SWF
 * run's tree of children) through the worker's Describe, history and List ops over Kafka. */
#include "kafka.h"
#include "log.h"
#include "rpc.h"
#include "util.h"
#include "version.h"
#include "when.h"

#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Exit statuses, part of the interface (usage()). */
enum { INSPECT_OK = 0, INSPECT_NOT_FOUND = 1, INSPECT_USAGE = 2, INSPECT_FAILED = 3 };

#define TREE_DEPTH_MAX 32 /* generations shown by --tree */

static volatile sig_atomic_t run = 1;

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: andon-inspect -b brokers [flags] EXECUTION\n"
	    "\n"
	    "Shows one execution: its status and times, a SageMaker execution's steps (with the callback\n"
	    "steps still owed an answer since their stop), its history, and with --tree an SWF run's tree "
	    "of\n"
	    "child runs. Reads through the worker's Describe, history and List ops; no Redis access.\n"
	    "EXECUTION is one of:\n"
	    "  arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME        (or its :express: form)\n"
	    "  arn:aws:sagemaker:REGION:ACCOUNT:pipeline/P/execution/ID\n"
	    "  acs:fnf:REGION:ACCOUNT:flow/FLOW/execution/NAME             (CloudFlow)\n"
	    "  arn:aws:swf:REGION:ACCOUNT:/domain/D/workflowId/W[/runId/R] (SWF; without the runId: the\n"
	    "                                                               latest run)\n"
	    "\n"
	    "  -j              one JSON object on stdout (default: tables for people)\n"
	    "      --tree      SWF: the run's children, their children... with their status\n"
	    "  -H              leave the history out\n"
	    "  -a ACCOUNT      account to read in (default the one in EXECUTION)\n"
	    "  -b BROKERS      bootstrap servers (or bootstrap.servers via -X / -F)\n"
	    "  -X KEY=VALUE    librdkafka property; -F FILE a file of them\n"
	    "  -t TOPIC        request topic (default andon.requests); -r TOPIC reply topic (andon.replies)\n"
	    "  -T MS           how long to wait for each reply (default 15000)\n"
	    "  -q              only print warnings and errors on stderr\n"
	    "  -h, --help      this text; --version the version\n"
	    "\n"
	    "Exit status: 0 shown, 1 the execution does not exist (the API's error is shown), 2 bad usage,\n"
	    "3 a Kafka error or no reply in time.\n");
}

enum api { API_SFN, API_SM, API_CF, API_SWF };
static const char *const api_name[] = {"StepFunctions", "SageMaker", "CloudFlow", "SWF"};

/* What EXECUTION names. Pointers into one copy of the argument. */
struct target {
	enum api api;
	char *text;			/* the argument, copied; parts below point into it */
	const char *account;		/* from the ARN */
	const char *arn;		/* SFN, SM: the ARN as given */
	const char *flow, *name;	/* CloudFlow */
	const char *domain, *wid, *rid; /* SWF; rid NULL: the latest run */
};

struct ctx {
	andon_rpc_t *rpc;
	const char *account;
	int timeout_ms;
	int failed; /* a Kafka error or a missing reply: exit 3 */
};

/* The i-th ':'-separated field of s (0-based) into out; 0, or -1 when there are fewer. */
static const char *field_at(char *s, int i)
{
	for (; i > 0; i--)
		if ((s = strchr(s, ':')) == NULL)
			return NULL;
		else
			s++;
	return s;
}

/* Parses EXECUTION; 0, or -1 with the reason in errstr. */
static int target_parse(const char *arg, struct target *t, char *errstr, size_t errstr_size)
{
	char *s, *acct, *end, *p;

	memset(t, 0, sizeof(*t));
	if ((t->text = strdup(arg)) == NULL)
		return andon_fail(errstr, errstr_size, "out of memory");
	s = t->text;
	/* arn:PARTITION:SERVICE:REGION:ACCOUNT:..., acs:SERVICE:REGION:ACCOUNT:... */
	if ((acct = (char *)field_at(s, strncmp(s, "acs:", 4) == 0 ? 3 : 4)) == NULL ||
	    (end = strchr(acct, ':')) == NULL)
		goto bad;
	if (strncmp(s, "arn:aws:states:", 15) == 0) {
		t->api = API_SFN;
		t->arn = arg;
	} else if (strncmp(s, "arn:aws:sagemaker:", 18) == 0) {
		t->api = API_SM;
		t->arn = arg;
	} else if (strncmp(s, "acs:fnf:", 8) == 0) {
		t->api = API_CF;
		p = end + 1;
		if (strncmp(p, "flow/", 5) != 0 || (t->name = strstr(p, "/execution/")) == NULL)
			goto bad;
		t->flow = p + 5;
		*(char *)t->name = '\0';
		t->name += 11;
	} else if (strncmp(s, "arn:aws:swf:", 12) == 0) {
		t->api = API_SWF;
		p = end + 1;
		if (strncmp(p, "/domain/", 8) != 0 || (t->wid = strstr(p + 8, "/workflowId/")) == NULL)
			goto bad;
		t->domain = p + 8;
		*(char *)t->wid = '\0';
		t->wid += 12;
		if ((p = strstr((char *)t->wid, "/runId/")) != NULL) {
			*p = '\0';
			t->rid = p + 7;
			if (*t->rid == '\0')
				t->rid = NULL;
		}
	} else {
		goto bad;
	}
	*end = '\0';
	t->account = acct;
	if (*t->account == '\0' || (t->api == API_CF && (*t->flow == '\0' || *t->name == '\0')) ||
	    (t->api == API_SWF && (*t->domain == '\0' || *t->wid == '\0')))
		goto bad;
	return 0;
bad:
	return andon_fail(errstr, errstr_size, "not an execution this tool knows: \"%s\" (see -h)", arg);
}

/*
 * One call; returns the reply's body (new) when ok, else NULL: *error (new) is the error map when the
 * worker answered with one, NULL when there was no reply (c->failed is set).
 */
static json_t *call(struct ctx *c, const char *op, json_t *body, json_t **error)
{
	char errstr[512];
	json_t *reply, *out = NULL;

	*error = NULL;
	if (andon_rpc_call(c->rpc, op, c->account, NULL, body, c->timeout_ms, &run, &reply, errstr,
			   sizeof(errstr)) != 0) {
		andon_err("%s", errstr);
		c->failed = 1;
		json_decref(body);
		return NULL;
	}
	json_decref(body);
	if (json_is_true(json_object_get(reply, "ok")))
		out = json_incref(json_object_get(reply, "body"));
	else
		*error = json_incref(json_object_get(reply, "error"));
	json_decref(reply);
	return out;
}

/* Every page of a history op: items under items, the token under token (request and reply alike). */
static json_t *all_pages(struct ctx *c, const char *op, json_t *body, const char *items, const char *token,
			 json_t **error)
{
	json_t *all = json_array(), *next = NULL;

	do {
		json_t *q = json_deep_copy(body), *page;

		if (next != NULL)
			json_object_set(q, token, next);
		json_decref(next);
		next = NULL;
		if ((page = call(c, op, q, error)) == NULL) {
			json_decref(all);
			all = NULL;
			break;
		}
		json_array_extend(all, json_object_get(page, items));
		next = json_incref(json_object_get(page, token));
		json_decref(page);
	} while (next != NULL && run);
	json_decref(next);
	json_decref(body);
	return all;
}

/* 1 when v is the string s. */
static int is_str(json_t *v, const char *s)
{
	return json_is_string(v) && s != NULL && strcmp(json_string_value(v), s) == 0;
}

/* The SageMaker callback steps still owed an answer: Stopping, since the entry that made them so. */
static json_t *owed_steps(json_t *describe, json_t *history)
{
	json_t *owed = json_array(), *step, *h;
	size_t i, k;

	json_array_foreach(json_object_get(describe, "PipelineExecutionSteps"), i, step)
	{
		const char *name = json_string_value(json_object_get(step, "StepName"));
		json_t *since = NULL;

		if (name == NULL || !is_str(json_object_get(step, "StepStatus"), "Stopping"))
			continue;
		json_array_foreach(history, k, h)
		{
			if (is_str(json_object_get(h, "stepName"), name) &&
			    is_str(json_object_get(h, "stepStatus"), "Stopping"))
				since = json_object_get(h, "timestamp");
		}
		json_array_append_new(owed, json_pack("{s:s, s:O}", "step", name, "since",
						      since != NULL ? since : json_null()));
	}
	return owed;
}

/* The runs of workflowId wid in the domain, open and closed, newest first (each an executionInfo). */
static json_t *runs_of(struct ctx *c, const char *domain, const char *wid)
{
	static const char *const ops[] = {"SWF.ListOpenWorkflowExecutions",
					  "SWF.ListClosedWorkflowExecutions"};
	json_t *runs = json_array(), *error = NULL;

	for (int i = 0; i < 2 && runs != NULL; i++) {
		json_t *page =
		    all_pages(c, ops[i],
			      json_pack("{s:s, s:{s:i}, s:{s:s}}", "domain", domain, "startTimeFilter",
					"oldestDate", 0, "executionFilter", "workflowId", wid),
			      "executionInfos", "nextPageToken", &error);

		if (page == NULL) {
			json_decref(runs);
			runs = NULL;
		} else {
			json_array_extend(runs, page);
			json_decref(page);
		}
		json_decref(error);
		error = NULL;
	}
	return runs;
}

/* The SWF run's node for --tree: its executionInfo and its children's nodes, found through the history's
 * StartChildWorkflowExecutionInitiated entries and the children's parent field. */
static json_t *tree_of(struct ctx *c, const char *domain, json_t *info, json_t *history, int depth)
{
	json_t *node = json_pack("{s:O, s:[]}", "run", info, "children"), *h, *seen = json_object();
	const char *rid = json_string_value(json_object_get(json_object_get(info, "execution"), "runId"));
	size_t i, k;

	json_array_foreach(history, i, h)
	{
		json_t *a = json_object_get(h, "startChildWorkflowExecutionInitiatedEventAttributes"), *runs,
		       *r;
		const char *cwid = json_string_value(json_object_get(a, "workflowId"));

		if (cwid == NULL || json_object_get(seen, cwid) != NULL || depth >= TREE_DEPTH_MAX)
			continue;
		json_object_set_new(seen, cwid, json_true());
		if ((runs = runs_of(c, domain, cwid)) == NULL)
			break;
		json_array_foreach(runs, k, r)
		{
			json_t *exec = json_object_get(r, "execution"), *d, *err, *ch, *cinfo;
			const char *crid = json_string_value(json_object_get(exec, "runId"));

			d = call(c, "SWF.DescribeWorkflowExecution",
				 json_pack("{s:s, s:O}", "domain", domain, "execution", exec), &err);
			json_decref(err);
			cinfo = d != NULL ? json_object_get(d, "executionInfo") : NULL;
			if (d == NULL ||
			    !is_str(json_object_get(json_object_get(cinfo, "parent"), "runId"), rid)) {
				json_decref(d);
				continue;
			}
			ch = all_pages(c, "SWF.GetWorkflowExecutionHistory",
				       json_pack("{s:s, s:{s:s, s:s}}", "domain", domain, "execution",
						 "workflowId", cwid, "runId", crid),
				       "events", "nextPageToken", &err);
			json_decref(err);
			json_array_append_new(json_object_get(node, "children"),
					      tree_of(c, domain, json_object_get(d, "executionInfo"),
						      ch != NULL ? ch : json_array(), depth + 1));
			json_decref(ch);
			json_decref(d);
		}
		json_decref(runs);
	}
	json_decref(seen);
	return node;
}

/* Reads the execution: {api, execution, history?, owed?, tree?} (new), or NULL with *error set (the API's
 * error map) or c->failed. */
static json_t *inspect(struct ctx *c, const struct target *t, int with_history, int tree, json_t **error)
{
	json_t *d = NULL, *hist = NULL, *out, *q;
	char *rid = NULL;

	switch (t->api) {
	case API_SFN:
		d = call(c, "StepFunctions.DescribeExecution", json_pack("{s:s}", "executionArn", t->arn),
			 error);
		if (d != NULL && with_history)
			hist = all_pages(c, "StepFunctions.GetExecutionHistory",
					 json_pack("{s:s, s:i}", "executionArn", t->arn, "maxResults", 1000),
					 "events", "nextToken", error);
		break;
	case API_SM:
		d = call(c, "SageMaker.DescribePipelineExecution",
			 json_pack("{s:s}", "PipelineExecutionArn", t->arn), error);
		/* The history is needed for the owed steps' "since" even when it is not shown. */
		if (d != NULL)
			hist = all_pages(
			    c, "SageMaker.ListPipelineExecutionHistory",
			    json_pack("{s:s, s:i}", "PipelineExecutionArn", t->arn, "MaxResults", 100),
			    "PipelineExecutionHistory", "NextToken", error);
		break;
	case API_CF:
		q = json_pack("{s:s, s:s, s:s}", "FlowName", t->flow, "ExecutionName", t->name, "FlowOwner",
			      t->account);
		d = call(c, "CloudFlow.DescribeExecution", json_deep_copy(q), error);
		if (d != NULL && with_history) {
			json_object_set_new(q, "Limit", json_integer(1000));
			hist = all_pages(c, "CloudFlow.GetExecutionHistory", json_incref(q), "Events",
					 "NextToken", error);
		}
		json_decref(q);
		break;
	case API_SWF:
		if (t->rid == NULL) {
			json_t *runs = runs_of(c, t->domain, t->wid), *latest = NULL, *r;
			size_t i;

			/* The latest run: the open one, else the one started last. */
			json_array_foreach(
			    runs, i, r) if (latest == NULL ||
					    json_number_value(json_object_get(r, "startTimestamp")) >
						json_number_value(json_object_get(latest, "startTimestamp")))
			    latest = r;
			if (latest != NULL)
				rid = strdup(json_string_value(
				    json_object_get(json_object_get(latest, "execution"), "runId")));
			json_decref(runs);
			if (rid == NULL) {
				if (!c->failed)
					*error = json_pack("{s:s, s:s}", "code", "UnknownResourceFault",
							   "message", "no run of this workflowId");
				return NULL;
			}
		}
		q = json_pack("{s:s, s:{s:s, s:s}}", "domain", t->domain, "execution", "workflowId", t->wid,
			      "runId", rid != NULL ? rid : t->rid);
		d = call(c, "SWF.DescribeWorkflowExecution", json_deep_copy(q), error);
		if (d != NULL && (with_history || tree))
			hist = all_pages(c, "SWF.GetWorkflowExecutionHistory", json_incref(q), "events",
					 "nextPageToken", error);
		json_decref(q);
		break;
	}
	if (d == NULL) {
		free(rid);
		return NULL;
	}
	out = json_pack("{s:s, s:o}", "api", api_name[t->api], "execution", d);
	if (t->api == API_SM && hist != NULL)
		json_object_set_new(out, "owed", owed_steps(d, hist));
	if (tree && t->api == API_SWF && hist != NULL)
		json_object_set_new(out, "tree",
				    tree_of(c, t->domain, json_object_get(d, "executionInfo"), hist, 0));
	if (with_history && hist != NULL)
		json_object_set(out, "history", hist);
	json_decref(hist);
	free(rid);
	return out;
}

/* A date as people read it: epoch seconds (the AWS APIs) or already text (CloudFlow). */
static const char *date_text(json_t *v, char *buf, size_t size)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (!json_is_number(v))
		return "-";
	andon_when_format((int64_t)(json_number_value(v) * 1000.0 + 0.5), buf, size);
	return buf;
}

static const char *str_or(json_t *v, const char *dflt)
{
	return json_is_string(v) ? json_string_value(v) : dflt;
}

static void print_tree(json_t *node, int depth)
{
	json_t *info = json_object_get(node, "run"), *ch;
	json_t *x = json_object_get(info, "execution");
	size_t i;

	printf("%*s%s/%s  %s  %s%s\n", 2 * depth, "", str_or(json_object_get(x, "workflowId"), "?"),
	       str_or(json_object_get(x, "runId"), "?"),
	       str_or(json_object_get(json_object_get(info, "workflowType"), "name"), "?"),
	       str_or(json_object_get(info, "closeStatus"),
		      str_or(json_object_get(info, "executionStatus"), "?")),
	       json_is_true(json_object_get(info, "cancelRequested")) ? " (cancel requested)" : "");
	json_array_foreach(json_object_get(node, "children"), i, ch) print_tree(ch, depth + 1);
}

/* The human form: a few labelled lines, the steps, the history, the tree. */
static void print_human(json_t *r)
{
	static const char *const status_keys[] = {"status", "PipelineExecutionStatus", "Status", NULL};
	static const char *const start_keys[] = {"startDate", "CreationTime", "StartedTime", NULL};
	static const char *const stop_keys[] = {"stopDate", "LastModifiedTime", "StoppedTime", NULL};
	json_t *d = json_object_get(r, "execution"), *info = json_object_get(d, "executionInfo"), *v, *e;
	const char *api = json_string_value(json_object_get(r, "api"));
	char b1[40], b2[40];
	size_t i;

	printf("%-10s %s\n", "API", api);
	if (info != NULL) {
		json_t *x = json_object_get(info, "execution");

		printf("%-10s %s / %s\n", "Run", str_or(json_object_get(x, "workflowId"), "?"),
		       str_or(json_object_get(x, "runId"), "?"));
		printf("%-10s %s\n", "Status",
		       str_or(json_object_get(info, "closeStatus"),
			      str_or(json_object_get(info, "executionStatus"), "?")));
		printf("%-10s %s\n", "Started",
		       date_text(json_object_get(info, "startTimestamp"), b1, sizeof(b1)));
		printf("%-10s %s\n", "Closed",
		       date_text(json_object_get(info, "closeTimestamp"), b1, sizeof(b1)));
		if (json_is_true(json_object_get(info, "cancelRequested")))
			printf("%-10s %s\n", "Cancel", "requested");
	} else {
		for (int k = 0; status_keys[k] != NULL; k++)
			if ((v = json_object_get(d, status_keys[k])) != NULL)
				printf("%-10s %s\n", "Status", str_or(v, "?"));
		for (int k = 0; start_keys[k] != NULL; k++)
			if ((v = json_object_get(d, start_keys[k])) != NULL)
				printf("%-10s %s\n", "Started", date_text(v, b1, sizeof(b1)));
		for (int k = 0; stop_keys[k] != NULL; k++)
			if ((v = json_object_get(d, stop_keys[k])) != NULL)
				printf("%-10s %s\n", k == 1 ? "Modified" : "Stopped",
				       date_text(v, b1, sizeof(b1)));
	}
	if ((v = json_object_get(d, "PipelineExecutionSteps")) != NULL && json_array_size(v) > 0) {
		printf("\n%-24s %-9s %-10s %-24s %s\n", "STEP", "TYPE", "STATUS", "STARTED", "ENDED");
		json_array_foreach(v, i, e)
		    printf("%-24s %-9s %-10s %-24s %s\n", str_or(json_object_get(e, "StepName"), "?"),
			   str_or(json_object_get(e, "StepType"), "?"),
			   str_or(json_object_get(e, "StepStatus"), "?"),
			   date_text(json_object_get(e, "StartTime"), b1, sizeof(b1)),
			   date_text(json_object_get(e, "EndTime"), b2, sizeof(b2)));
	}
	if ((v = json_object_get(r, "owed")) != NULL && json_array_size(v) > 0) {
		printf("\nOwed a callback answer:\n");
		json_array_foreach(v, i, e)
		    printf("  %-24s since %s\n", str_or(json_object_get(e, "step"), "?"),
			   date_text(json_object_get(e, "since"), b1, sizeof(b1)));
	}
	if ((v = json_object_get(r, "history")) != NULL) {
		printf("\n%-5s %-24s %s\n", "ID", "TIME", "EVENT");
		json_array_foreach(v, i, e)
		{
			json_t *id = json_object_get(e, "id") ? json_object_get(e, "id")
							      : json_object_get(e, "EventId");
			json_t *when = json_object_get(e, "timestamp") ? json_object_get(e, "timestamp")
				       : json_object_get(e, "eventTimestamp")
					   ? json_object_get(e, "eventTimestamp")
					   : json_object_get(e, "Time");
			const char *type = str_or(
			    json_object_get(e, "type"),
			    str_or(json_object_get(e, "eventType"), str_or(json_object_get(e, "Type"), "?")));

			printf("%-5lld %-24s %s", (long long)json_integer_value(id),
			       date_text(when, b1, sizeof(b1)), type);
			if (json_is_string(json_object_get(e, "stepName")))
				printf(" %s: %s", json_string_value(json_object_get(e, "stepName")),
				       str_or(json_object_get(e, "stepStatus"), ""));
			printf("\n");
		}
	}
	if ((v = json_object_get(r, "tree")) != NULL) {
		printf("\nTree:\n");
		print_tree(v, 1);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, ANDON_OPT_VERSION},
						 {"tree", no_argument, NULL, ANDON_OPT_VERSION + 1},
						 {NULL, 0, NULL, 0}};
	andon_kafka_arg_t *cargs = calloc((size_t)argc, sizeof(*cargs));
	const char *requests = "andon.requests", *replies = "andon.replies";
	int ncargs = 0, opt, json = 0, tree = 0, with_history = 1, status = INSPECT_FAILED;
	long long timeout_ms = 15000;
	struct ctx c = {NULL, NULL, 15000, 0};
	struct target t = {0};
	json_t *out = NULL, *error = NULL;
	char errstr[512];

	if (cargs == NULL) {
		fprintf(stderr, "andon-inspect: out of memory\n");
		return INSPECT_FAILED;
	}
	while ((opt = getopt_long(argc, argv, "b:X:F:t:r:a:T:jHqh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
		case 'X':
		case 'F':
			cargs[ncargs].flag = opt;
			cargs[ncargs++].arg = optarg;
			break;
		case 't':
			requests = optarg;
			break;
		case 'r':
			replies = optarg;
			break;
		case 'a':
			c.account = optarg;
			break;
		case 'T':
			if (andon_parse_ll(optarg, 1, 3600000, &timeout_ms) != 0) {
				fprintf(stderr, "andon-inspect: -T: expected milliseconds, got \"%s\"\n",
					optarg);
				goto usage;
			}
			break;
		case 'j':
			json = 1;
			break;
		case 'H':
			with_history = 0;
			break;
		case ANDON_OPT_VERSION + 1:
			tree = 1;
			break;
		case 'q':
			andon_log_level = ANDON_LOG_WARN;
			break;
		case 'h':
			usage(stdout);
			status = INSPECT_OK;
			goto done;
		case ANDON_OPT_VERSION:
			andon_version_print(stdout, "andon-inspect");
			status = INSPECT_OK;
			goto done;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "andon-inspect: give one EXECUTION\n");
		goto usage;
	}
	if (target_parse(argv[optind], &t, errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, "andon-inspect: %s\n", errstr);
		goto usage;
	}
	if (tree && t.api != API_SWF) {
		fprintf(stderr, "andon-inspect: --tree is for SWF runs\n");
		goto usage;
	}
	if (c.account == NULL)
		c.account = t.account;
	c.timeout_ms = (int)timeout_ms;

	andon_catch_stop(&run);
	if ((c.rpc = andon_rpc_new(cargs, ncargs, requests, replies, "andon-inspect", c.timeout_ms, errstr,
				   sizeof(errstr))) == NULL) {
		fprintf(stderr, "andon-inspect: %s\n", errstr);
		goto done;
	}
	if ((out = inspect(&c, &t, with_history, tree, &error)) == NULL) {
		if (c.failed || error == NULL) {
			status = INSPECT_FAILED;
			goto done;
		}
		status = INSPECT_NOT_FOUND;
		out = json_pack("{s:s, s:O}", "api", api_name[t.api], "error", error);
		if (!json) {
			andon_err("%s: %s", str_or(json_object_get(error, "code"), "?"),
				  str_or(json_object_get(error, "message"), ""));
			json_decref(out);
			out = NULL;
		}
	} else {
		status = c.failed ? INSPECT_FAILED : INSPECT_OK;
	}
	if (out != NULL) {
		if (json) {
			if (json_dumpf(out, stdout, JSON_COMPACT) != 0 || fputc('\n', stdout) == EOF)
				status = INSPECT_FAILED;
		} else {
			print_human(out);
		}
		if (fflush(stdout) != 0)
			status = INSPECT_FAILED;
	}
done:
	andon_rpc_destroy(c.rpc);
	json_decref(out);
	json_decref(error);
	free(t.text);
	free(cargs);
	return status;

usage:
	usage(stderr);
	status = INSPECT_USAGE;
	goto done;
}
