/* andon-bulk: stops a selected class of executions through the List ops, at a rate, resumable by run name
 * and checkpoint file. */
#include "kafka.h"
#include "log.h"
#include "rpc.h"
#include "util.h"
#include "version.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Exit statuses, part of the interface (usage()). */
enum { BULK_OK = 0, BULK_INCOMPLETE = 1, BULK_USAGE = 2, BULK_FAILED = 3 };

#define LIST_PAGE	  1000	/* maxResults of each List call */
#define CALL_TIMEOUT_MS	  30000 /* one List call */
#define NAME_MAX_LEN	  64	/* run names */
#define MAX_IN_FLIGHT	  5000	/* requests sent and not answered, at most */
#define PROGRESS_EVERY_US 500000

static volatile sig_atomic_t run = 1;

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: andon-bulk -b brokers ACTION --name RUN SELECTION [flags]\n"
	    "\n"
	    "Selects executions with the engine's List op, then sends ACTION to each one at a chosen rate.\n"
	    "Request ids are derived from RUN and the execution (bulk-RUN-HASH), so a rerun with the same\n"
	    "name never applies a request twice; with a checkpoint file it does not even resend what was\n"
	    "answered. Prints a JSON summary line on stdout (with -n: the selection's count and a sample).\n"
	    "\n"
	    "SELECTION (one) and ACTION:\n"
	    "  --state-machine ARN  Step Functions executions (ListExecutions); stop\n"
	    "  --pipeline NAME      SageMaker pipeline executions (ListPipelineExecutions); stop\n"
	    "  --flow NAME          CloudFlow executions (ListExecutions; --flow-owner ACCOUNT); stop\n"
	    "  --domain NAME        open SWF runs (ListOpenWorkflowExecutions; --type NAME); cancel, "
	    "terminate\n"
	    "  --status S      the status to select, in the API's names (default: the running ones:\n"
	    "                  RUNNING, Executing, Starting and Running, OPEN); any: every execution\n"
	    "Flags:\n"
	    "  --name RUN      the run's name: 1-64 of [A-Za-z0-9._-] (required)\n"
	    "  --checkpoint F  append each answered execution to F; skip those already in it\n"
	    "  --rate N        send at most N requests per second (default unlimited)\n"
	    "  --error E       the stop's error (Step Functions, CloudFlow); --cause C its cause (SWF\n"
	    "                  terminate: its reason)\n"
	    "  --sample N      with -n, how many selected executions to show (default 10)\n"
	    "  -n, --dry-run   select and print the count and a sample; send nothing\n"
	    "  -b BROKERS      bootstrap servers (or bootstrap.servers via -X / -F)\n"
	    "  -X KEY=VALUE    librdkafka property; -F FILE a file of them\n"
	    "  -t TOPIC        request topic (default andon.requests); -r TOPIC reply topic (andon.replies)\n"
	    "  -a ACCOUNT      account to act in\n"
	    "  -T MS           how long to wait for the last replies (default 60000)\n"
	    "  -P, --progress  progress on stderr even when it is not a terminal\n"
	    "  -q              only print warnings and errors on stderr\n"
	    "  -h, --help      this text; --version the version\n"
	    "\n"
	    "Exit status: 0 every selected execution answered ok, 1 some answered with an error, unanswered\n"
	    "or interrupted (rerun to resume), 2 bad usage, 3 a Kafka error or the selection failed.\n");
}

/* The APIs a selection can name. */
enum api { API_SFN, API_SM, API_CF, API_SWF };

struct opts {
	enum api api;
	const char *action, *op, *name, *status, *checkpoint, *error, *cause, *account;
	const char *parent; /* the selection: state machine ARN, pipeline, flow or domain */
	const char *owner;  /* CloudFlow FlowOwner; NULL: the account's own */
	const char *type;   /* SWF typeFilter name; NULL: any */
	const char *requests, *replies;
	double rate;
	long long sample, wait_ms;
	int dry_run, progress;
};

/* The run's state: what was selected and what became of each. */
struct bulk {
	json_t *arns;	 /* selected executions' ids (ARN; flow/execution; workflowId/runId), in List order */
	json_t *targets; /* per id, the fields of the action's body that name the execution */
	json_t *done;	 /* ARN -> code ("OK" or the error code) from the checkpoint and this run */
	json_t *pending; /* request id -> index in arns */
	json_t *failures;  /* error code -> count (this run) */
	FILE *cp;	   /* checkpoint, appended; NULL without one */
	long long skipped; /* in the checkpoint already */
	long long sent, ok, failed;
};

static int name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > NAME_MAX_LEN)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("._-", *s) != NULL))
			return 0;
	return 1;
}

/* The request id of action on arn in run name: stable, so a rerun's request is the same request. */
static void request_id(const struct opts *o, const char *arn, char *out, size_t size)
{
	uint64_t h = andon_hash64(ANDON_HASH64_INIT, o->op, strlen(o->op));

	h = andon_hash64(h, "\n", 1);
	h = andon_hash64(h, arn, strlen(arn));
	snprintf(out, size, "bulk-%s-%016llx", o->name, (unsigned long long)h);
}

/* The List call of the selection for one page (token: the previous page's, or NULL): op and body. */
static json_t *list_body(const struct opts *o, json_t *token, const char **op, const char **token_field)
{
	json_t *body = NULL;

	switch (o->api) {
	case API_SFN:
		*op = "StepFunctions.ListExecutions";
		*token_field = "nextToken";
		body = json_pack("{s:s, s:i}", "stateMachineArn", o->parent, "maxResults", LIST_PAGE);
		if (o->status == NULL || strcmp(o->status, "any") != 0)
			json_object_set_new(body, "statusFilter",
					    json_string(o->status != NULL ? o->status : "RUNNING"));
		break;
	case API_SM:
		*op = "SageMaker.ListPipelineExecutions";
		*token_field = "NextToken";
		body = json_pack("{s:s, s:i}", "PipelineName", o->parent, "MaxResults", 100);
		break;
	case API_CF:
		*op = "CloudFlow.ListExecutions";
		*token_field = "NextToken";
		body = json_pack("{s:s, s:i}", "FlowName", o->parent, "Limit", 100);
		if (o->owner != NULL)
			json_object_set_new(body, "FlowOwner", json_string(o->owner));
		break;
	case API_SWF:
		*op = "SWF.ListOpenWorkflowExecutions";
		*token_field = "nextPageToken";
		body = json_pack("{s:s, s:i, s:{s:i}}", "domain", o->parent, "maximumPageSize", LIST_PAGE,
				 "startTimeFilter", "oldestDate", 0);
		if (o->type != NULL)
			json_object_set_new(body, "typeFilter", json_pack("{s:s}", "name", o->type));
		break;
	}
	if (token != NULL)
		json_object_set(body, *token_field, token);
	return body;
}

/* A listed status matches the selection: --status (any: all), else the API's running ones. */
static int status_ok(const struct opts *o, const char *st)
{
	if (o->status != NULL)
		return strcmp(o->status, "any") == 0 || (st != NULL && strcmp(st, o->status) == 0);
	if (st == NULL)
		return 0;
	return o->api == API_SM ? strcmp(st, "Executing") == 0
				: strcmp(st, "Starting") == 0 || strcmp(st, "Running") == 0;
}

/* Adds the page's selected executions: their ids to b->arns, their targets to b->targets. */
static void take_page(const struct opts *o, json_t *page, struct bulk *b)
{
	static const char *const arrays[] = {"executions", "PipelineExecutionSummaries", "Executions",
					     "executionInfos"};
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(page, arrays[o->api]), i, e)
	{
		char id[1200];
		json_t *t = NULL, *x;

		switch (o->api) {
		case API_SFN: /* the List call filtered already */
			snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(e, "executionArn")));
			t = json_pack("{s:s}", "executionArn", id);
			break;
		case API_SM:
			if (!status_ok(o, json_string_value(json_object_get(e, "PipelineExecutionStatus"))))
				continue;
			snprintf(id, sizeof(id), "%s",
				 json_string_value(json_object_get(e, "PipelineExecutionArn")));
			t = json_pack("{s:s}", "PipelineExecutionArn", id);
			break;
		case API_CF:
			if (!status_ok(o, json_string_value(json_object_get(e, "Status"))))
				continue;
			snprintf(id, sizeof(id), "%s/%s", o->parent,
				 json_string_value(json_object_get(e, "Name")));
			t = json_pack("{s:s, s:O}", "FlowName", o->parent, "ExecutionName",
				      json_object_get(e, "Name"));
			if (t != NULL && o->owner != NULL)
				json_object_set_new(t, "FlowOwner", json_string(o->owner));
			break;
		case API_SWF:
			x = json_object_get(e, "execution");
			snprintf(id, sizeof(id), "%s/%s", json_string_value(json_object_get(x, "workflowId")),
				 json_string_value(json_object_get(x, "runId")));
			t = json_pack("{s:s, s:O, s:O}", "domain", o->parent, "workflowId",
				      json_object_get(x, "workflowId"), "runId", json_object_get(x, "runId"));
			break;
		}
		if (t == NULL)
			continue; /* a malformed item */
		json_array_append_new(b->arns, json_string(id));
		json_array_append_new(b->targets, t);
	}
}

/* Every execution the selection names, page by page. 0, or -1 (errstr). */
static int select_all(andon_rpc_t *rpc, const struct opts *o, struct bulk *b, char *errstr,
		      size_t errstr_size)
{
	json_t *token = NULL;
	int rc = -1;

	do {
		const char *op = NULL, *token_field = NULL;
		json_t *body = list_body(o, token, &op, &token_field), *reply, *page;

		if (andon_rpc_call(rpc, op, o->account, NULL, body, CALL_TIMEOUT_MS, &run, &reply, errstr,
				   errstr_size) != 0) {
			json_decref(body);
			goto out;
		}
		json_decref(body);
		if (!json_is_true(json_object_get(reply, "ok"))) {
			json_t *err = json_object_get(reply, "error");

			andon_fail(errstr, errstr_size, "%s: %s: %s", op,
				   json_string_value(json_object_get(err, "code")),
				   json_string_value(json_object_get(err, "message")));
			json_decref(reply);
			goto out;
		}
		page = json_object_get(reply, "body");
		take_page(o, page, b);
		json_decref(token);
		token = json_incref(json_object_get(page, token_field));
		json_decref(reply);
	} while (token != NULL && run);
	rc = run ? 0 : andon_fail(errstr, errstr_size, "interrupted");
out:
	json_decref(token);
	return rc;
}

/*
 * The action's request for execution i (request id id): its body (new) and its Kafka key into key, as
 * andon-send keys requests, so the requests about one execution share a partition.
 */
static json_t *action_body(const struct opts *o, const struct bulk *b, size_t i, const char *id, char *key,
			   size_t key_size)
{
	json_t *body = json_deep_copy(json_array_get(b->targets, i));
	char token[200];

	switch (o->api) {
	case API_SFN:
		snprintf(key, key_size, "%s", json_string_value(json_object_get(body, "executionArn")));
		if (o->error != NULL)
			json_object_set_new(body, "error", json_string(o->error));
		if (o->cause != NULL)
			json_object_set_new(body, "cause", json_string(o->cause));
		break;
	case API_SM:
		snprintf(key, key_size, "%s",
			 json_string_value(json_object_get(body, "PipelineExecutionArn")));
		/* SageMaker's idempotency token has 32-128 characters: the request id, padded. */
		snprintf(token, sizeof(token), "%s-00000000000000000000000000000000", id);
		token[strlen(id) >= 32 ? strlen(id) : 32] = '\0';
		json_object_set_new(body, "ClientRequestToken", json_string(token));
		break;
	case API_CF:
		snprintf(key, key_size, "%s/%s", o->parent,
			 json_string_value(json_object_get(body, "ExecutionName")));
		if (o->error != NULL)
			json_object_set_new(body, "Error", json_string(o->error));
		if (o->cause != NULL)
			json_object_set_new(body, "Cause", json_string(o->cause));
		break;
	case API_SWF:
		snprintf(key, key_size, "%s/%s", o->parent,
			 json_string_value(json_object_get(body, "workflowId")));
		if (o->cause != NULL && strcmp(o->action, "terminate") == 0)
			json_object_set_new(body, "reason", json_string(o->cause));
		break;
	}
	return body;
}

/*
 * Opens the checkpoint: reads what it holds (its first line names the run and action; another run's file
 * is refused) into done, then keeps it open for appending. 0, or -1 (errstr).
 */
static int checkpoint_open(const struct opts *o, struct bulk *b, char *errstr, size_t errstr_size)
{
	char header[256], line[16384];
	int torn = 0;
	FILE *fp;

	snprintf(header, sizeof(header), "# andon-bulk %s %s\n", o->name, o->action);
	if ((fp = fopen(o->checkpoint, "r")) != NULL) {
		if (fgets(line, sizeof(line), fp) != NULL && strcmp(line, header) != 0) {
			fclose(fp);
			return andon_fail(errstr, errstr_size, "%s is the checkpoint of another run: %.*s",
					  o->checkpoint, (int)strcspn(line, "\n"), line);
		}
		while (fgets(line, sizeof(line), fp) != NULL) {
			char *tab = strchr(line, '\t');

			/* A line is written once its execution was answered, so a line that a crash cut after
			 * the tab still names an answered execution; one cut before it names none: sent
			 * again. */
			if (tab == NULL)
				continue;
			*tab = '\0';
			tab[1 + strcspn(tab + 1, "\n")] = '\0';
			json_object_set_new(b->done, line, json_string(tab + 1));
		}
		/* A cut last line gets its newline now, so the lines appended next stand on their own. */
		torn = ftell(fp) > 0 && fseek(fp, -1, SEEK_END) == 0 && fgetc(fp) != '\n';
		fclose(fp);
	} else if (errno != ENOENT) {
		return andon_fail(errstr, errstr_size, "%s: %s", o->checkpoint, strerror(errno));
	}
	if ((b->cp = fopen(o->checkpoint, "a")) == NULL || (torn && fputc('\n', b->cp) == EOF))
		return andon_fail(errstr, errstr_size, "%s: %s", o->checkpoint, strerror(errno));
	if (ftell(b->cp) == 0 && fputs(header, b->cp) == EOF)
		return andon_fail(errstr, errstr_size, "%s: %s", o->checkpoint, strerror(errno));
	return 0;
}

static void on_reply(json_t *reply, void *opaque)
{
	struct bulk *b = opaque;
	const char *id = json_string_value(json_object_get(reply, "id")), *arn, *code;
	json_t *at, *v;

	if (id == NULL || (at = json_object_get(b->pending, id)) == NULL)
		return; /* someone else's reply, or a duplicate of one already counted */
	arn = json_string_value(json_array_get(b->arns, (size_t)json_integer_value(at)));
	if (json_is_true(json_object_get(reply, "ok"))) {
		code = "OK";
		b->ok++;
	} else {
		code = json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
		if (code == NULL)
			code = "?";
		b->failed++;
		v = json_object_get(b->failures, code);
		json_object_set_new(b->failures, code,
				    json_integer(v != NULL ? json_integer_value(v) + 1 : 1));
	}
	json_object_set_new(b->done, arn, json_string(code));
	if (b->cp != NULL)
		fprintf(b->cp, "%s\t%s\n", arn, code);
	json_object_del(b->pending, id);
}

/* Reads replies for up to ms, then makes the checkpoint durable against a crash of this process. */
static int collect(andon_rpc_t *rpc, struct bulk *b, int ms)
{
	int rc = andon_rpc_poll(rpc, ms, on_reply, b);

	if (b->cp != NULL && fflush(b->cp) != 0) {
		andon_err("%s", strerror(errno));
		return -1;
	}
	return rc < 0 ? -1 : 0;
}

static void progress_show(const struct opts *o, const struct bulk *b, size_t total, int64_t t0_us, int last)
{
	double secs = (double)(andon_now_us() - t0_us) / 1e6;
	long long answered = b->ok + b->failed, todo = (long long)total - b->skipped;
	double rate = secs > 0 ? (double)answered / secs : 0;

	fprintf(stderr, "%s%lld/%lld answered (%lld ok, %lld failed), %lld sent, %.0f/s, ETA %.0fs%s",
		o->progress == 1 ? "\r\033[K" : "", answered, todo, b->ok, b->failed, b->sent, rate,
		rate > 0 ? (double)(todo - answered) / rate : 0, o->progress == 1 && !last ? "" : "\n");
}

/* Sends action to every selected execution not done yet, paced, then waits for the replies. */
static int send_all(andon_rpc_t *rpc, const struct opts *o, struct bulk *b)
{
	int64_t t0_us = andon_now_us(), shown_us = 0, deadline;
	char id[128], errstr[512], key[1200];
	size_t i, n = json_array_size(b->arns);

	for (i = 0; i < n && run; i++) {
		const char *arn = json_string_value(json_array_get(b->arns, i));
		json_t *body;

		if (json_object_get(b->done, arn) != NULL)
			continue;
		if (o->rate > 0) {
			int64_t due = t0_us + (int64_t)((double)b->sent * 1e6 / o->rate);

			while (run && andon_now_us() < due)
				if (collect(rpc, b, (int)((due - andon_now_us()) / 1000 + 1)) != 0)
					return -1;
		}
		while (run && json_object_size(b->pending) >= MAX_IN_FLIGHT)
			if (collect(rpc, b, 100) != 0)
				return -1;
		request_id(o, arn, id, sizeof(id));
		body = action_body(o, b, i, id, key, sizeof(key));
		if (andon_rpc_send(rpc, o->op, id, o->account, key, body, errstr, sizeof(errstr)) != 0) {
			andon_err("%s", errstr);
			json_decref(body);
			return -1;
		}
		json_decref(body);
		json_object_set_new(b->pending, id, json_integer((json_int_t)i));
		b->sent++;
		if (collect(rpc, b, 0) != 0)
			return -1;
		if (o->progress && andon_now_us() - shown_us >= PROGRESS_EVERY_US) {
			progress_show(o, b, n, t0_us, 0);
			shown_us = andon_now_us();
		}
	}
	/* The last replies; an interrupted run still collects what is in flight, briefly. */
	deadline = andon_now_us() + (run ? o->wait_ms : 5000) * 1000;
	while (json_object_size(b->pending) > 0 && andon_now_us() < deadline) {
		if (collect(rpc, b, 100) != 0)
			return -1;
		if (o->progress && andon_now_us() - shown_us >= PROGRESS_EVERY_US) {
			progress_show(o, b, n, t0_us, 0);
			shown_us = andon_now_us();
		}
	}
	if (o->progress)
		progress_show(o, b, n, t0_us, 1);
	return 0;
}

enum {
	OPT_NAME = ANDON_OPT_VERSION + 1,
	OPT_SM,
	OPT_PIPELINE,
	OPT_FLOW,
	OPT_FLOW_OWNER,
	OPT_DOMAIN,
	OPT_TYPE,
	OPT_STATUS,
	OPT_CHECKPOINT,
	OPT_RATE,
	OPT_ERROR,
	OPT_CAUSE,
	OPT_SAMPLE
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, ANDON_OPT_VERSION},
						 {"dry-run", no_argument, NULL, 'n'},
						 {"progress", no_argument, NULL, 'P'},
						 {"name", required_argument, NULL, OPT_NAME},
						 {"state-machine", required_argument, NULL, OPT_SM},
						 {"pipeline", required_argument, NULL, OPT_PIPELINE},
						 {"flow", required_argument, NULL, OPT_FLOW},
						 {"flow-owner", required_argument, NULL, OPT_FLOW_OWNER},
						 {"domain", required_argument, NULL, OPT_DOMAIN},
						 {"type", required_argument, NULL, OPT_TYPE},
						 {"status", required_argument, NULL, OPT_STATUS},
						 {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
						 {"rate", required_argument, NULL, OPT_RATE},
						 {"error", required_argument, NULL, OPT_ERROR},
						 {"cause", required_argument, NULL, OPT_CAUSE},
						 {"sample", required_argument, NULL, OPT_SAMPLE},
						 {NULL, 0, NULL, 0}};
	struct opts o = {
	    .requests = "andon.requests", .replies = "andon.replies", .sample = 10, .wait_ms = 60000};
	struct bulk b = {.arns = json_array(),
			 .targets = json_array(),
			 .done = json_object(),
			 .pending = json_object(),
			 .failures = json_object()};
	andon_kafka_arg_t *cargs = calloc((size_t)argc, sizeof(*cargs));
	int ncargs = 0, opt, status = BULK_FAILED, quiet = 0, force_progress = 0;
	int64_t t0_us = andon_now_us();
	andon_rpc_t *rpc = NULL;
	char errstr[512], *end;
	json_t *out = NULL;

	if (cargs == NULL || b.arns == NULL || b.targets == NULL || b.done == NULL || b.pending == NULL ||
	    b.failures == NULL) {
		fprintf(stderr, "andon-bulk: out of memory\n");
		return BULK_FAILED;
	}
	while ((opt = getopt_long(argc, argv, "+b:X:F:t:r:a:T:nPqh", longopts, NULL)) != -1 ||
	       (optind < argc && o.action == NULL)) {
		if (opt == -1) {
			/* The action word may come first or among the flags. */
			o.action = argv[optind++];
			continue;
		}
		switch (opt) {
		case 'b':
		case 'X':
		case 'F':
			cargs[ncargs].flag = opt;
			cargs[ncargs++].arg = optarg;
			break;
		case 't':
			o.requests = optarg;
			break;
		case 'r':
			o.replies = optarg;
			break;
		case 'a':
			o.account = optarg;
			break;
		case 'T':
			if (andon_parse_ll(optarg, 1, 86400000, &o.wait_ms) != 0) {
				fprintf(stderr, "andon-bulk: -T: expected milliseconds, got \"%s\"\n",
					optarg);
				goto usage;
			}
			break;
		case 'n':
			o.dry_run = 1;
			break;
		case 'P':
			force_progress = 1;
			break;
		case 'q':
			andon_log_level = ANDON_LOG_WARN;
			quiet = 1;
			break;
		case OPT_NAME:
			o.name = optarg;
			break;
		case OPT_SM:
		case OPT_PIPELINE:
		case OPT_FLOW:
		case OPT_DOMAIN:
			if (o.parent != NULL) {
				fprintf(stderr, "andon-bulk: give one selection\n");
				goto usage;
			}
			o.parent = optarg;
			o.api = opt == OPT_SM	      ? API_SFN
				: opt == OPT_PIPELINE ? API_SM
				: opt == OPT_FLOW     ? API_CF
						      : API_SWF;
			break;
		case OPT_FLOW_OWNER:
			o.owner = optarg;
			break;
		case OPT_TYPE:
			o.type = optarg;
			break;
		case OPT_STATUS:
			o.status = optarg;
			break;
		case OPT_CHECKPOINT:
			o.checkpoint = optarg;
			break;
		case OPT_ERROR:
			o.error = optarg;
			break;
		case OPT_CAUSE:
			o.cause = optarg;
			break;
		case OPT_SAMPLE:
			if (andon_parse_ll(optarg, 0, 1000000, &o.sample) != 0) {
				fprintf(stderr, "andon-bulk: --sample: expected a count, got \"%s\"\n",
					optarg);
				goto usage;
			}
			break;
		case OPT_RATE:
			errno = 0;
			o.rate = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !(o.rate > 0) || o.rate > 1e7) {
				fprintf(stderr,
					"andon-bulk: --rate: expected requests per second (0 < N <= 1e7), "
					"got \"%s\"\n",
					optarg);
				goto usage;
			}
			break;
		case 'h':
			usage(stdout);
			status = BULK_OK;
			goto done;
		case ANDON_OPT_VERSION:
			andon_version_print(stdout, "andon-bulk");
			status = BULK_OK;
			goto done;
		default:
			goto usage;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "andon-bulk: unexpected argument \"%s\"\n", argv[optind]);
		goto usage;
	}
	if (o.parent == NULL) {
		fprintf(stderr, "andon-bulk: a selection is required: --state-machine, --pipeline, --flow or "
				"--domain\n");
		goto usage;
	}
	{
		static const char *const ops[][3] = {
		    /* per API: stop, cancel, terminate */
		    {"StepFunctions.StopExecution", NULL, NULL},
		    {"SageMaker.StopPipelineExecution", NULL, NULL},
		    {"CloudFlow.StopExecution", NULL, NULL},
		    {NULL, "SWF.RequestCancelWorkflowExecution", "SWF.TerminateWorkflowExecution"}};
		int a = o.action == NULL		     ? -1
			: strcmp(o.action, "stop") == 0	     ? 0
			: strcmp(o.action, "cancel") == 0    ? 1
			: strcmp(o.action, "terminate") == 0 ? 2
							     : -1;

		if (a < 0 || (o.op = ops[o.api][a]) == NULL) {
			fprintf(stderr, "andon-bulk: ACTION must be %s for this selection\n",
				o.api == API_SWF ? "cancel or terminate" : "stop");
			goto usage;
		}
	}
	if ((o.owner != NULL && o.api != API_CF) || (o.type != NULL && o.api != API_SWF)) {
		fprintf(stderr, "andon-bulk: --flow-owner goes with --flow, --type with --domain\n");
		goto usage;
	}
	if (o.name == NULL || !name_ok(o.name)) {
		fprintf(stderr, "andon-bulk: --name: 1-64 of [A-Za-z0-9._-] is required\n");
		goto usage;
	}
	o.progress = quiet ? 0 : isatty(2) ? 1 : force_progress ? 2 : 0;

	andon_catch_stop(&run);
	if ((rpc = andon_rpc_new(cargs, ncargs, o.requests, o.replies, "andon-bulk", CALL_TIMEOUT_MS, errstr,
				 sizeof(errstr))) == NULL) {
		fprintf(stderr, "andon-bulk: %s\n", errstr);
		goto done;
	}
	if (o.checkpoint != NULL && checkpoint_open(&o, &b, errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, "andon-bulk: %s\n", errstr);
		status = BULK_USAGE;
		goto done;
	}
	if (select_all(rpc, &o, &b, errstr, sizeof(errstr)) != 0) {
		andon_err("selection: %s", errstr);
		status = run ? BULK_FAILED : BULK_INCOMPLETE;
		goto done;
	}
	for (size_t i = 0; i < json_array_size(b.arns); i++)
		if (json_object_get(b.done, json_string_value(json_array_get(b.arns, i))) != NULL)
			b.skipped++;
	andon_info("%s: %zu execution(s) selected, %lld done before (checkpoint)", o.name,
		   json_array_size(b.arns), b.skipped);
	if (o.dry_run) {
		json_t *sample = json_array();

		for (size_t i = 0; i < json_array_size(b.arns) && json_array_size(sample) < (size_t)o.sample;
		     i++)
			if (json_object_get(b.done, json_string_value(json_array_get(b.arns, i))) == NULL)
				json_array_append(sample, json_array_get(b.arns, i));
		out = json_pack("{s:b, s:s, s:s, s:s, s:I, s:I, s:I, s:o}", "dryRun", 1, "name", o.name,
				"action", o.action, "op", o.op, "selected",
				(json_int_t)json_array_size(b.arns), "skipped", (json_int_t)b.skipped,
				"toSend", (json_int_t)json_array_size(b.arns) - b.skipped, "sample", sample);
		status = BULK_OK;
		goto done;
	}
	if (send_all(rpc, &o, &b) != 0) {
		status = BULK_FAILED;
	} else {
		status =
		    b.failed == 0 && json_object_size(b.pending) == 0 && run && andon_rpc_failed(rpc) == 0
			? BULK_OK
			: BULK_INCOMPLETE;
	}
	out =
	    json_pack("{s:b, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:O, s:I, s:b, s:f}", "dryRun", 0,
		      "name", o.name, "action", o.action, "op", o.op, "selected",
		      (json_int_t)json_array_size(b.arns), "skipped", (json_int_t)b.skipped, "sent",
		      (json_int_t)b.sent, "ok", (json_int_t)b.ok, "failed", (json_int_t)b.failed, "failures",
		      b.failures, "unanswered", (json_int_t)json_object_size(b.pending), "complete",
		      status == BULK_OK, "seconds", (double)((andon_now_us() - t0_us) / 1000) / 1e3);
done:
	if (out != NULL && (json_dumpf(out, stdout, JSON_COMPACT | JSON_REAL_PRECISION(9)) != 0 ||
			    fputc('\n', stdout) == EOF || fflush(stdout) != 0)) {
		andon_err("writing stdout failed");
		status = BULK_FAILED;
	}
	if (b.cp != NULL && fclose(b.cp) != 0) {
		andon_err("%s: %s", o.checkpoint, strerror(errno));
		status = BULK_FAILED;
	}
	andon_rpc_destroy(rpc);
	json_decref(out);
	json_decref(b.arns);
	json_decref(b.targets);
	json_decref(b.done);
	json_decref(b.pending);
	json_decref(b.failures);
	free(cargs);
	return status;

usage:
	usage(stderr);
	status = BULK_USAGE;
	goto done;
}
