/* andon-keys: the operator's tool for access keys (docs/OPERATIONS.md, "Access keys"). */
#include "authz.h"
#include "conf.h"
#include "config.h"
#include "keystore.h"
#include "log.h"
#include "sign.h"
#include "util.h"
#include "version.h"

#include <getopt.h>
#include <hiredis.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exit statuses, part of the interface (usage()). */
enum { KEYS_OK = 0, KEYS_REFUSED = 1, KEYS_USAGE = 2, KEYS_FAILED = 3 };

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: andon-keys [-c FILE] [-o option=value]... COMMAND [ARGS]\n"
	    "\n"
	    "Manages the access keys that sign Andon requests. Keys live in Redis (the worker's redis.*\n"
	    "settings), their secrets sealed under the master key (security.master_key_file).\n"
	    "\n"
	    "Commands (JSON out on stdout, one object a line):\n"
	    "  master-key FILE          create a new master key file (mode 0600; never overwrites)\n"
	    "  create -a ACCOUNT [-p FILE | -P JSON]\n"
	    "                           a new active key; prints its secret, the only time it is shown.\n"
	    "                           Without a policy the key may do nothing until one is set\n"
	    "  list                     every key: id, account, status, times, whether it has a policy\n"
	    "  show ID                  one key, with its policy (never the secret)\n"
	    "  disable ID, enable ID    stop or resume a key (workers see it within security.key_cache_ms)\n"
	    "  rotate ID                a new secret for ID; the old one stops working; prints the new one\n"
	    "  delete ID                remove a key\n"
	    "  get-policy ID            the key's policy document\n"
	    "  set-policy ID (-p FILE | -P JSON)\n"
	    "                           replace the key's policy (checked first; '-p -' reads stdin)\n"
	    "\n"
	    "  -c FILE        the worker's settings file (andon.conf(5)): redis.*, security.master_key_file\n"
	    "  -o K=V         one setting, after -c (e.g. -o redis.port=6380)\n"
	    "  -a ACCOUNT     the account a new key acts for\n"
	    "  -p FILE        policy document from FILE ('-': stdin)\n"
	    "  -P JSON        policy document given inline\n"
	    "  -q             only warnings and errors on stderr\n"
	    "  -h, --help     this text\n"
	    "      --version  the version of the program and its libraries\n"
	    "\n"
	    "Exit status: 0 done, 1 refused (no such key, a policy that does not parse), 2 usage,\n"
	    "3 failure (Redis, the master key).\n");
}

static redisContext *connect_redis(const andon_config_t *cfg, char *errstr, size_t errstr_size)
{
	struct timeval tv = {cfg->redis_timeout_ms / 1000, (cfg->redis_timeout_ms % 1000) * 1000};
	redisContext *c = cfg->redis_unix[0] != '\0'
			      ? redisConnectUnixWithTimeout(cfg->redis_unix, tv)
			      : redisConnectWithTimeout(cfg->redis_host, cfg->redis_port, tv);
	redisReply *r = NULL;

	if (c == NULL || c->err) {
		andon_fail(errstr, errstr_size, "redis: %s", c != NULL ? c->errstr : "out of memory");
		goto err;
	}
	if (cfg->redis_password[0] != '\0') {
		r = cfg->redis_username[0] != '\0'
			? redisCommand(c, "AUTH %s %s", cfg->redis_username, cfg->redis_password)
			: redisCommand(c, "AUTH %s", cfg->redis_password);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			andon_fail(errstr, errstr_size, "redis AUTH: %s", r != NULL ? r->str : c->errstr);
			goto err;
		}
		freeReplyObject(r);
	}
	if (cfg->redis_db != 0) {
		r = redisCommand(c, "SELECT %d", cfg->redis_db);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			andon_fail(errstr, errstr_size, "redis SELECT: %s", r != NULL ? r->str : c->errstr);
			goto err;
		}
		freeReplyObject(r);
	}
	return c;
err:
	freeReplyObject(r);
	if (c != NULL)
		redisFree(c);
	return NULL;
}

static int print_json(json_t *j)
{
	int rc = json_dumpf(j, stdout, JSON_COMPACT) == 0 && fputc('\n', stdout) != EOF && fflush(stdout) == 0
		     ? KEYS_OK
		     : KEYS_FAILED;

	json_decref(j);
	return rc;
}

/* The policy text of -p FILE ('-': stdin) or -P JSON, checked; malloc'd. NULL with errstr. */
static char *policy_text(const char *file, const char *inline_json, char *errstr, size_t errstr_size)
{
	json_error_t jerr;
	json_t *doc;
	char *text, why[256];
	andon_policy_t *p;

	if (inline_json != NULL)
		doc = json_loads(inline_json, JSON_REJECT_DUPLICATES, &jerr);
	else if (strcmp(file, "-") == 0)
		doc = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
	else
		doc = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		andon_fail(errstr, errstr_size, "policy: line %d: %s", jerr.line, jerr.text);
		return NULL;
	}
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (text == NULL) {
		andon_fail(errstr, errstr_size, "out of memory");
		return NULL;
	}
	if ((p = andon_policy_parse(text, strlen(text), why, sizeof(why))) == NULL) {
		andon_fail(errstr, errstr_size, "%s", why);
		free(text);
		return NULL;
	}
	andon_policy_destroy(p);
	return text;
}

static json_t *creds_json(const andon_creds_t *c, const char *account)
{
	json_t *j = json_pack("{s:s, s:s}", "accessKeyId", c->key_id, "secretAccessKey", c->secret);

	if (account != NULL) { /* a new key */
		json_object_set_new(j, "account", json_string(account));
		json_object_set_new(j, "status", json_string("active"));
	}
	return j;
}

/* The record of id without its secret, or NULL (no such key, or an error in errstr). */
static json_t *key_json(redisContext *c, const char *id, int with_policy, char *errstr, size_t errstr_size)
{
	char key[ANDON_SIGN_ID_MAX + 32];
	redisReply *r;
	json_t *j = NULL, *pol;

	errstr[0] = '\0';
	if (andon_keystore_key(id, strlen(id), key, sizeof(key)) != 0) {
		andon_fail(errstr, errstr_size, "key id too long");
		return NULL;
	}
	r = redisCommand(c, "HMGET %s account status created updated policy", key);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 5) {
		andon_fail(errstr, errstr_size, "redis: %s",
			   r == NULL			  ? c->errstr
			   : r->type == REDIS_REPLY_ERROR ? r->str
							  : "unexpected reply");
		freeReplyObject(r);
		return NULL;
	}
	if (r->element[0]->type == REDIS_REPLY_STRING) {
		j = json_pack("{s:s, s:s%, s:s%}", "accessKeyId", id, "account", r->element[0]->str,
			      r->element[0]->len, "status",
			      r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "",
			      r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->len : 0);
		for (int i = 2; i < 4; i++) {
			long long v;

			if (r->element[i]->type == REDIS_REPLY_STRING &&
			    andon_parse_ll(r->element[i]->str, 0, INT64_MAX, &v) == 0)
				json_object_set_new(j, i == 2 ? "created" : "updated", json_integer(v));
		}
		if (with_policy) {
			pol = r->element[4]->type == REDIS_REPLY_STRING
				  ? json_loadb(r->element[4]->str, r->element[4]->len, 0, NULL)
				  : NULL;
			json_object_set_new(j, "policy", pol != NULL ? pol : json_null());
		} else {
			json_object_set_new(j, "hasPolicy",
					    json_boolean(r->element[4]->type == REDIS_REPLY_STRING));
		}
	}
	freeReplyObject(r);
	return j;
}

static int status_of(int rc, const char *id);

/* A customer key without its material, or NULL (no such key, or an error in errstr). */
static json_t *kms_json(redisContext *c, const char *id, const char *region, char *errstr, size_t errstr_size)
{
	redisReply *r = redisCommand(
	    c, "HMGET " ANDON_KMS_KEY_PREFIX "%s account status users created updated deletion", id);
	json_t *j = NULL;
	char arn[256];

	errstr[0] = '\0';
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
		andon_fail(errstr, errstr_size, "redis: %s",
			   r == NULL			  ? c->errstr
			   : r->type == REDIS_REPLY_ERROR ? r->str
							  : "unexpected reply");
		freeReplyObject(r);
		return NULL;
	}
	if (r->element[0]->type == REDIS_REPLY_STRING) {
		snprintf(arn, sizeof(arn), "arn:aws:kms:%s:%s:key/%s", region, r->element[0]->str, id);
		j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "keyId", id, "arn", arn, "account",
			      r->element[0]->str, "status",
			      r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "", "users",
			      r->element[2]->type == REDIS_REPLY_STRING ? r->element[2]->str : "");
		for (int i = 3; i < 6; i++) {
			long long v;

			if (r->element[i]->type == REDIS_REPLY_STRING &&
			    andon_parse_ll(r->element[i]->str, 1, INT64_MAX, &v) == 0)
				json_object_set_new(j,
						    i == 3   ? "created"
						    : i == 4 ? "updated"
							     : "deletionDate",
						    json_integer(v));
		}
	}
	freeReplyObject(r);
	return j;
}

/* andon-keys kms SUB [ID]: the exit status. */
static int cmd_kms(redisContext *c, const andon_config_t *cfg, const unsigned char *mk, const char *sub,
		   const char *id, const char *account, const char *users, char *errstr, size_t errstr_size)
{
	static const struct {
		const char *sub, *from, *to;
	} moves[] = {{"disable", "Enabled", "Disabled"},
		     {"enable", "Disabled", "Enabled"},
		     {"schedule-deletion", "Enabled,Disabled", "PendingDeletion"},
		     {"cancel-deletion", "PendingDeletion", "Disabled"}};
	char kid[37];
	json_t *j;
	int rc;

	if (strcmp(sub, "create") == 0) {
		if (andon_kms_create(c, mk, account, users != NULL ? users : "", kid, errstr, errstr_size) !=
		    0)
			return KEYS_FAILED;
		if ((j = kms_json(c, kid, cfg->region, errstr, errstr_size)) == NULL)
			return KEYS_FAILED;
		return print_json(j);
	}
	if (strcmp(sub, "list") == 0) {
		redisReply *r = redisCommand(c, "SMEMBERS %s", ANDON_KMS_INDEX);

		rc = KEYS_OK;
		if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
			andon_fail(errstr, errstr_size, "redis: %s",
				   r == NULL ? c->errstr : "unexpected reply");
			freeReplyObject(r);
			return KEYS_FAILED;
		}
		for (size_t i = 0; i < r->elements && rc == KEYS_OK; i++)
			if ((j = kms_json(c, r->element[i]->str, cfg->region, errstr, errstr_size)) != NULL)
				rc = print_json(j);
		freeReplyObject(r);
		return rc;
	}
	if (strcmp(sub, "show") == 0) {
		if ((j = kms_json(c, id, cfg->region, errstr, errstr_size)) == NULL)
			return errstr[0] != '\0' ? KEYS_FAILED : status_of(0, id);
		return print_json(j);
	}
	if (strcmp(sub, "set-users") == 0) {
		if ((rc = andon_kms_users(c, id, users, errstr, errstr_size)) < 0)
			return KEYS_FAILED;
		if (rc == 0)
			return status_of(0, id);
		return (j = kms_json(c, id, cfg->region, errstr, errstr_size)) != NULL ? print_json(j)
										       : KEYS_FAILED;
	}
	for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
		if (strcmp(sub, moves[i].sub) != 0)
			continue;
		if ((rc = andon_kms_status(c, id, moves[i].from, moves[i].to, errstr, errstr_size)) < 0)
			return KEYS_FAILED;
		if (rc == 0)
			return status_of(0, id);
		if (rc == 2) {
			fprintf(stderr, "andon-keys: kms %s: key %s is not %s\n", sub, id, moves[i].from);
			return KEYS_REFUSED;
		}
		return (j = kms_json(c, id, cfg->region, errstr, errstr_size)) != NULL ? print_json(j)
										       : KEYS_FAILED;
	}
	fprintf(stderr, "andon-keys: unknown kms command %s\n", sub);
	return KEYS_USAGE;
}

static int cmd_list(redisContext *c, char *errstr, size_t errstr_size)
{
	redisReply *r = redisCommand(c, "SMEMBERS %s", ANDON_KEYSTORE_INDEX);
	int rc = KEYS_OK;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		andon_fail(errstr, errstr_size, "redis: %s",
			   r == NULL			  ? c->errstr
			   : r->type == REDIS_REPLY_ERROR ? r->str
							  : "unexpected reply");
		freeReplyObject(r);
		return KEYS_FAILED;
	}
	for (size_t i = 0; i < r->elements && rc == KEYS_OK; i++) {
		json_t *j = key_json(c, r->element[i]->str, 0, errstr, errstr_size);

		if (j != NULL)
			rc = print_json(j);
		else if (errstr[0] != '\0')
			rc = KEYS_FAILED;
	}
	freeReplyObject(r);
	return rc;
}

/* 1 done, 0 no such key, -1: the exit status. */
static int status_of(int rc, const char *id)
{
	if (rc == 0)
		fprintf(stderr, "andon-keys: no such key %s\n", id);
	return rc > 0 ? KEYS_OK : rc == 0 ? KEYS_REFUSED : KEYS_FAILED;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, ANDON_OPT_VERSION},
						 {NULL, 0, NULL, 0}};
	andon_config_t *cfg = andon_config_new();
	const char *account = NULL, *pfile = NULL, *pjson = NULL, *users = NULL, *cmd, *id;
	unsigned char mk[ANDON_MASTER_KEY_LEN];
	char errstr[512] = "", key[128], *policy = NULL;
	const char *value;
	redisContext *c = NULL;
	andon_creds_t creds;
	int opt, status = KEYS_FAILED, rc;

	if (cfg == NULL) {
		fprintf(stderr, "andon-keys: out of memory\n");
		return KEYS_FAILED;
	}
	while ((opt = getopt_long(argc, argv, "c:o:a:p:P:u:qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (andon_config_load(cfg, optarg, errstr, sizeof(errstr)) != 0)
				goto fail;
			break;
		case 'o': {
			char kv[4096];

			snprintf(kv, sizeof(kv), "%s", optarg);
			if (andon_conf_split(kv, key, sizeof(key), &value) != 0) {
				fprintf(stderr, "andon-keys: -o: expected option=value, got \"%s\"\n",
					optarg);
				goto usage;
			}
			if (andon_config_set(cfg, key, value, errstr, sizeof(errstr)) != 0)
				goto fail;
			break;
		}
		case 'a':
			account = optarg;
			break;
		case 'u':
			users = optarg;
			break;
		case 'p':
			pfile = optarg;
			break;
		case 'P':
			pjson = optarg;
			break;
		case 'q':
			andon_log_level = ANDON_LOG_WARN;
			break;
		case 'h':
			usage(stdout);
			status = KEYS_OK;
			goto out;
		case ANDON_OPT_VERSION:
			andon_version_print(stdout, "andon-keys");
			status = KEYS_OK;
			goto out;
		default:
			goto usage;
		}
	}
	if (optind >= argc)
		goto usage;
	cmd = argv[optind];
	id = optind + 1 < argc ? argv[optind + 1] : NULL;
	if (strcmp(cmd, "kms") == 0) {
		const char *sub = id, *kid = optind + 2 < argc ? argv[optind + 2] : NULL;

		if (sub == NULL || optind + 3 < argc ||
		    ((strcmp(sub, "create") == 0 || strcmp(sub, "list") == 0) ? kid != NULL : kid == NULL) ||
		    (strcmp(sub, "create") == 0 && account == NULL) ||
		    (strcmp(sub, "set-users") == 0 && users == NULL)) {
			fprintf(stderr, "andon-keys: kms: wrong arguments\n");
			goto usage;
		}
		if (strcmp(sub, "create") == 0 &&
		    andon_master_load(cfg->master_key_file, mk, errstr, sizeof(errstr)) != 0)
			goto fail;
		if ((c = connect_redis(cfg, errstr, sizeof(errstr))) == NULL)
			goto fail;
		status = cmd_kms(c, cfg, mk, sub, kid, account, users, errstr, sizeof(errstr));
		if (status == KEYS_FAILED)
			goto fail;
		if (status == KEYS_USAGE)
			goto usage;
		goto out;
	}
	if (optind + 2 < argc) {
		fprintf(stderr, "andon-keys: too many arguments\n");
		goto usage;
	}
	if (strcmp(cmd, "master-key") == 0) {
		if (id == NULL)
			goto usage;
		if (andon_master_create(id, errstr, sizeof(errstr)) != 0)
			goto fail;
		status = print_json(json_pack("{s:s}", "masterKeyFile", id));
		goto out;
	}
	if (strcmp(cmd, "create") == 0 ? account == NULL || id != NULL
	    : strcmp(cmd, "list") == 0 ? id != NULL
				       : id == NULL) {
		fprintf(stderr, "andon-keys: %s: wrong arguments\n", cmd);
		goto usage;
	}
	if ((strcmp(cmd, "create") == 0 || strcmp(cmd, "set-policy") == 0) &&
	    (pfile != NULL || pjson != NULL)) {
		if (pfile != NULL && pjson != NULL) {
			fprintf(stderr, "andon-keys: -p or -P, not both\n");
			goto usage;
		}
		if ((policy = policy_text(pfile, pjson, errstr, sizeof(errstr))) == NULL) {
			fprintf(stderr, "andon-keys: %s\n", errstr);
			status = KEYS_REFUSED;
			goto out;
		}
	} else if (strcmp(cmd, "set-policy") == 0) {
		fprintf(stderr, "andon-keys: set-policy needs -p FILE or -P JSON\n");
		goto usage;
	}
	if ((strcmp(cmd, "create") == 0 || strcmp(cmd, "rotate") == 0) &&
	    andon_master_load(cfg->master_key_file, mk, errstr, sizeof(errstr)) != 0)
		goto fail;
	if ((c = connect_redis(cfg, errstr, sizeof(errstr))) == NULL)
		goto fail;

	if (strcmp(cmd, "create") == 0) {
		if (andon_keystore_create(c, mk, account, policy, &creds, errstr, sizeof(errstr)) != 0)
			goto fail;
		if (policy == NULL)
			andon_warn("key %s has no policy: it may do nothing until set-policy gives it one",
				   creds.key_id);
		status = print_json(creds_json(&creds, account));
	} else if (strcmp(cmd, "rotate") == 0) {
		if ((rc = andon_keystore_rotate(c, mk, id, &creds, errstr, sizeof(errstr))) < 0)
			goto fail;
		status = rc == 0 ? status_of(0, id) : print_json(creds_json(&creds, NULL));
	} else if (strcmp(cmd, "list") == 0) {
		if ((status = cmd_list(c, errstr, sizeof(errstr))) != KEYS_OK)
			goto fail;
	} else if (strcmp(cmd, "show") == 0 || strcmp(cmd, "get-policy") == 0) {
		json_t *j = key_json(c, id, 1, errstr, sizeof(errstr));

		if (j == NULL && errstr[0] != '\0')
			goto fail;
		if (j == NULL) {
			status = status_of(0, id);
		} else if (cmd[0] == 's') {
			status = print_json(j);
		} else {
			json_t *p = json_incref(json_object_get(j, "policy"));

			json_decref(j);
			status = print_json(p);
		}
	} else if (strcmp(cmd, "disable") == 0 || strcmp(cmd, "enable") == 0) {
		rc = andon_keystore_set(c, id, "status", cmd[0] == 'd' ? "inactive" : "active", errstr,
					sizeof(errstr));
		if (rc < 0)
			goto fail;
		status = rc == 0 ? status_of(0, id)
				 : print_json(json_pack("{s:s, s:s}", "accessKeyId", id, "status",
							cmd[0] == 'd' ? "inactive" : "active"));
	} else if (strcmp(cmd, "delete") == 0) {
		if ((rc = andon_keystore_delete(c, id, errstr, sizeof(errstr))) < 0)
			goto fail;
		status = rc == 0 ? status_of(0, id)
				 : print_json(json_pack("{s:s, s:b}", "accessKeyId", id, "deleted", 1));
	} else if (strcmp(cmd, "set-policy") == 0) {
		if ((rc = andon_keystore_set(c, id, "policy", policy, errstr, sizeof(errstr))) < 0)
			goto fail;
		status = rc == 0 ? status_of(0, id)
				 : print_json(json_pack("{s:s, s:o}", "accessKeyId", id, "policy",
							json_loads(policy, 0, NULL)));
	} else {
		fprintf(stderr, "andon-keys: unknown command %s\n", cmd);
		goto usage;
	}
out:
	OPENSSL_cleanse(&creds, sizeof(creds));
	OPENSSL_cleanse(mk, sizeof(mk));
	free(policy);
	if (c != NULL)
		redisFree(c);
	andon_config_destroy(cfg);
	return status;
fail:
	fprintf(stderr, "andon-keys: %s\n", errstr);
	status = KEYS_FAILED;
	goto out;
usage:
	usage(stderr);
	status = KEYS_USAGE;
	goto out;
}
