/* test_config.c - configuration loading: values, ${VAR}, secrets from 0600
 * files and the environment, and the errors that name file, line and key;
 * the configuration map that drives it (defaults, ranges, help, accepted keys)
 * and the reference in docs/configuration.md generated from it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/config.h"
#include "rules/rules.h"

static char tmpdir[64];

static const char *write_file(const char *name, const char *text, mode_t mode) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
    return path;
}

/* Loads `text` as a config; returns the config (or NULL) and the error. */
static gg_config *load(const char *text, char *err, size_t errsz) {
    const char *p = write_file("gg.ini", text, 0644);
    err[0] = '\0';
    return config_load(p, err, errsz);
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gg-config-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd);
}

static void test_full_config(void **state) {
    (void)state;
    setenv("GG_TEST_PORT", "5544", 1);
    write_file("psb.token", "s3cret-token\n", 0600);
    char err[1024];
    gg_config *c = load("[gridgate]\n"
                        "state = var/state.db\n"
                        "log_level = debug\n"
                        "today = 2025-06-30\n"
                        "[source hr]\n"
                        "label = 人社\n"
                        "adapter = adapters/hr.lua\n"
                        "conn.db = pg:host=127.0.0.1 port=${GG_TEST_PORT} dbname=hr\n"
                        "conn.db.timeout_ms = 5000\n"
                        "[source psb]\n"
                        "adapter = /abs/psb.lua\n"
                        "encoding = GBK\n"
                        "deadline_ms = 250\n"
                        "memory_mb = 32\n"
                        "conn.api = http:http://127.0.0.1:1\n"
                        "conn.api.token_file = psb.token\n"
                        "[rule pension_after_death]\n"
                        "grace_months = 1\n"
                        "[rule assistance_hidden_income]\n"
                        "min_months = 4\n"
                        "standard = 80000\n"
                        "standard.4201 = 95000\n"
                        "[rule assistance_hidden_assets]\n"
                        "exempt_subkinds = motorcycle, tractor\n"
                        "[rule duplicate_assistance]\n"
                        "enabled = no\n"
                        "[route]\n"
                        "pension_after_death = hr, psb\n"
                        "identity_conflict = @sources\n"
                        "[delivery]\n"
                        "max_attempts = 4\n",
                        err, sizeof err);
    assert_non_null(c);
    assert_string_equal(err, "");
    char expect[300];
    snprintf(expect, sizeof expect, "%s/var/state.db", tmpdir);
    assert_string_equal(c->state_path, expect);
    assert_int_equal(c->rules.today, 20250630);
    assert_int_equal(c->nsources, 2);
    const gg_source_conf *hr = config_source(c, "hr");
    assert_non_null(hr);
    assert_string_equal(hr->label, "人社");
    snprintf(expect, sizeof expect, "%s/adapters/hr.lua", tmpdir);
    assert_string_equal(hr->adapter, expect);
    assert_int_equal(hr->nconns, 1);
    assert_string_equal(hr->conns[0].spec, "pg:host=127.0.0.1 port=5544 dbname=hr");
    assert_int_equal(hr->conns[0].timeout_ms, 5000);
    const gg_source_conf *psb = config_source(c, "psb");
    assert_string_equal(psb->adapter, "/abs/psb.lua");
    assert_string_equal(psb->label, "psb"); /* defaults to the name */
    assert_string_equal(psb->encoding, "GBK");
    assert_int_equal(psb->deadline_ms, 250);
    assert_int_equal(psb->memory_mb, 32);
    assert_string_equal(psb->conns[0].token, "s3cret-token");
    assert_int_equal(c->rules.grace_months, 1);
    assert_int_equal(c->rules.min_months, 4);
    assert_int_equal(c->rules.standard_default, 80000);
    assert_int_equal(rules_standard_for(&c->rules, "420105"), 95000);
    assert_int_equal(rules_standard_for(&c->rules, "420502"), 80000);
    assert_int_equal(c->rules.nexempt, 2);
    assert_string_equal(c->rules.exempt_subkinds[1], "tractor");
    assert_int_equal(c->rules.enabled[RULE_DUPLICATE_ASSISTANCE], 0);
    assert_int_equal(c->rules.enabled[RULE_PENSION_AFTER_DEATH], 1);
    assert_int_equal(c->routes[RULE_PENSION_AFTER_DEATH].nsinks, 2);
    assert_string_equal(c->routes[RULE_PENSION_AFTER_DEATH].sinks[1], "psb");
    assert_string_equal(c->routes[RULE_IDENTITY_CONFLICT].sinks[0], "@sources");
    assert_int_equal(c->max_attempts, 4);
    config_free(c);
}

static void test_defaults(void **state) {
    (void)state;
    char err[1024];
    gg_config *c = load("[source a]\nadapter = a.lua\n", err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->rules.grace_months, 0);
    assert_int_equal(c->rules.min_months, 3);
    assert_int_equal(c->rules.nexempt, 2);
    assert_int_equal(c->max_attempts, 10);
    assert_int_equal(c->sources[0].deadline_ms, 60000);
    assert_string_equal(c->sources[0].encoding, "UTF-8");
    assert_int_equal(c->sources[0].max_workers, 0); /* one worker per kind of stream */
    assert_int_equal(c->sources[0].push_batch, 100);
    config_free(c);
    c = load("[source a]\nadapter = a.lua\nmax_workers = 1\npush_batch = 1\n[source b]\nadapter = b.lua\nmax_workers = 3\n",
             err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->sources[0].max_workers, 1);
    assert_int_equal(c->sources[1].max_workers, 3);
    assert_int_equal(c->sources[0].push_batch, 1);
    assert_int_equal(c->sources[1].push_batch, 100);
    config_free(c);
}

/* Each bad input fails, and the message names the line and what is wrong. */
static void expect_error(const char *text, const char *fragment1, const char *fragment2) {
    char err[1024];
    gg_config *c = load(text, err, sizeof err);
    if (c) config_free(c);
    assert_null(c);
    if (!strstr(err, fragment1) || (fragment2 && !strstr(err, fragment2))) {
        print_error("error '%s' lacks '%s' / '%s'\n", err, fragment1, fragment2 ? fragment2 : "");
        fail();
    }
}

static void test_errors_name_line_and_key(void **state) {
    (void)state;
    unsetenv("GG_TEST_UNSET");
    expect_error("[source hr]\nadapter = x.lua\ncolour = red\n", "gg.ini:3:", "unknown key 'colour' in [source hr]");
    expect_error("[sources hr]\nadapter = x\n", "gg.ini:2:", "unknown section [sources hr]");
    expect_error("[rule pension_after_dead]\ngrace_months = 1\n", "gg.ini:2:", "unknown rule 'pension_after_dead'");
    expect_error("[rule pension_after_death]\ngrace_months = -1\n", "gg.ini:2:", "key grace_months: bad value '-1'");
    expect_error("[rule pension_after_death]\nmin_months = 3\n", "gg.ini:2:", "unknown key 'min_months' in [rule pension_after_death]");
    expect_error("[rule assistance_hidden_income]\nmin_months = three\n", "gg.ini:2:", "key min_months: bad value 'three'");
    expect_error("[rule assistance_hidden_income]\nstandard.42x = 100\n", "gg.ini:2:", "region prefix must be 1 to 6 digits");
    expect_error("[rule assistance_hidden_income]\nstandard = 1.5\n", "gg.ini:2:", "key standard: bad value");
    /* rule keys come from the rule descriptors: ranges and the accepted keys are named */
    expect_error("[rule pension_after_death]\ngrace_months = 121\n", "gg.ini:2:",
                 "key grace_months: bad value '121' (an integer from 0 to 120)");
    expect_error("[rule pension_after_death]\nmin_months = 3\n", "gg.ini:2:", "accepted keys: enabled, grace_months");
    expect_error("[rule assistance_hidden_income]\ngrace = 3\n", "gg.ini:2:",
                 "accepted keys: enabled, min_months, standard, standard.<prefix>");
    expect_error("[rule identity_conflict]\nenabled = sometimes\n", "gg.ini:2:", "key enabled: bad value 'sometimes'");
    expect_error("[gridgate]\nlog_level = loud\n", "gg.ini:2:", "log_level");
    expect_error("[gridgate]\ntoday = 2025-13-01\n", "gg.ini:2:", "key today");
    expect_error("[source hr]\nadapter = x.lua\nconn.db = pg:port=${GG_TEST_UNSET}\n", "gg.ini:3:",
                 "environment variable GG_TEST_UNSET is not set");
    expect_error("[source hr]\nadapter = x.lua\nenabled = maybe\n", "gg.ini:3:", "key enabled: bad value");
    expect_error("[source hr]\nadapter = x.lua\npush_batch = 0\n", "gg.ini:3:", NULL);
    expect_error("[source hr]\nadapter = x.lua\nmax_workers = 0\n", "gg.ini:3:",
                 "key max_workers: bad value '0' (an integer from 1 to 64: 1 pulls all the source's streams in one worker");
    expect_error("[source hr]\nadapter = x.lua\nmax_workers = no\n", "gg.ini:3:",
                 "leave it unset for one worker per kind of stream");
    expect_error("[delivery]\nmax_attempts = 0\n", "gg.ini:2:", "max_attempts");
    expect_error("[source Bad-Name]\nadapter = x\n", "gg.ini:2:", "source name 'Bad-Name'");
    /* whole-file checks */
    expect_error("[source hr]\nlabel = x\n", "[source hr]: missing key 'adapter'", NULL);
    expect_error("[source hr]\nadapter = x.lua\n[route]\npension_after_death = hr, tax\n",
                 "[route] pension_after_death: no [source tax]", NULL);
    expect_error("[route]\nnot_a_rule = hr\n", "gg.ini:2:", "unknown rule 'not_a_rule' in [route]");
    expect_error("[source hr]\nadapter = x.lua\nconn.db = mysql:foo\n", "conn.db: the spec must start with pg:, odbc: or http:", NULL);
    expect_error("[source hr]\nadapter = x.lua\nconn.db.timeout_ms = 100\n", "conn.db has settings but no spec", NULL);
}

static void test_secrets(void **state) {
    (void)state;
    char err[1024];
    /* group/other-readable secret files are refused, and the secret is not echoed */
    write_file("open.token", "do-not-print-me\n", 0644);
    gg_config *c = load("[source psb]\nadapter = x.lua\nconn.api = http:http://h\nconn.api.token_file = open.token\n",
                        err, sizeof err);
    assert_null(c);
    assert_non_null(strstr(err, "chmod 600"));
    assert_non_null(strstr(err, "gg.ini:4:"));
    assert_null(strstr(err, "do-not-print-me"));
    /* a missing file */
    c = load("[source psb]\nadapter = x.lua\nconn.api = http:http://h\nconn.api.token_file = nope.token\n", err,
             sizeof err);
    assert_null(c);
    assert_non_null(strstr(err, "nope.token"));
    /* passwords from the environment are appended in the driver's syntax, quoted */
    setenv("GG_TEST_PG_PASS", "it's\\x", 1);
    setenv("GG_TEST_ODBC_PASS", "a}b", 1);
    c = load("[source hr]\nadapter = x.lua\nconn.db = pg:host=h dbname=hr\nconn.db.password_env = GG_TEST_PG_PASS\n"
             "conn.o = odbc:Driver=X;Database=y\nconn.o.password_env = GG_TEST_ODBC_PASS\n",
             err, sizeof err);
    assert_non_null(c);
    assert_string_equal(c->sources[0].conns[0].spec, "pg:host=h dbname=hr password='it\\'s\\\\x'");
    assert_string_equal(c->sources[0].conns[1].spec, "odbc:Driver=X;Database=y;PWD={a}}b}");
    config_free(c);
    /* a password for an HTTP connection makes no sense */
    c = load("[source hr]\nadapter = x.lua\nconn.api = http:http://h\nconn.api.password_env = GG_TEST_PG_PASS\n", err,
             sizeof err);
    assert_null(c);
    assert_non_null(strstr(err, "pg: and odbc: connections only"));
    /* an unset env secret is named */
    unsetenv("GG_TEST_NO_TOKEN");
    c = load("[source psb]\nadapter = x.lua\nconn.api = http:http://h\nconn.api.token_env = GG_TEST_NO_TOKEN\n", err,
             sizeof err);
    assert_null(c);
    assert_non_null(strstr(err, "GG_TEST_NO_TOKEN is not set"));
}

/* Every default in the map is what a file without the key gets. */
static void test_map_defaults(void **state) {
    (void)state;
    char err[1024];
    gg_config *c = load("[source a]\nadapter = a.lua\n[admin]\ntoken_file = adm.token\n", err, sizeof err);
    assert_null(c); /* token file missing */
    write_file("adm.token", "t0ken\n", 0600);
    c = load("[source a]\nadapter = a.lua\n[admin]\ntoken_file = adm.token\n", err, sizeof err);
    assert_non_null(c);
    assert_string_equal(c->log_level, "info");
    assert_non_null(strstr(c->state_path, "/gridgate-state.db"));
    assert_int_equal(c->sources[0].enabled, 1);
    assert_int_equal(c->sources[0].memory_mb, 256);
    assert_int_equal(c->backoff_base_ms, 1000);
    assert_int_equal(c->backoff_max_ms, 300000);
    assert_int_equal(c->verdict_deadline_days, 7);
    assert_string_equal(c->admin_listen, "127.0.0.1:9187");
    assert_int_equal(c->admin_stale_after, 0);
    assert_string_equal(c->rules.exempt_subkinds[0], "motorcycle");
    assert_string_equal(c->rules.exempt_subkinds[1], "disability_vehicle");
    assert_int_equal(c->rules.standard_default, -1);
    for (size_t r = 0; r < rules_count(); r++) assert_int_equal(c->rules.enabled[r], 1);
    config_free(c);
    /* and a value given replaces the default */
    c = load("[delivery]\nbackoff_max_ms = 5000\n[rule assistance_hidden_assets]\nexempt_subkinds = car\n", err,
             sizeof err);
    assert_non_null(c);
    assert_int_equal(c->backoff_max_ms, 5000);
    assert_int_equal(c->rules.nexempt, 1);
    assert_string_equal(c->rules.exempt_subkinds[0], "car");
    config_free(c);
}

/* Values at both ends of a range load; one past either end is refused with the range. */
static void test_map_ranges(void **state) {
    (void)state;
    char err[1024];
    gg_config *c = load("[delivery]\nmax_attempts = 1000\n[source a]\nadapter = a.lua\nmemory_mb = 1\n"
                        "conn.db = pg:x\nconn.db.max_body = 1G\n",
                        err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->max_attempts, 1000);
    assert_int_equal(c->sources[0].memory_mb, 1);
    assert_int_equal(c->sources[0].conns[0].max_body, 1L << 30);
    config_free(c);
    expect_error("[delivery]\nmax_attempts = 1001\n", "gg.ini:2:", "key max_attempts: bad value '1001' (an integer from 1 to 1000)");
    expect_error("[source a]\nadapter = a.lua\nmemory_mb = 0\n", "gg.ini:3:", "(an integer from 1 to 65536)");
    expect_error("[source a]\nadapter = a.lua\nconn.db.max_body = 2G\n", "gg.ini:3:", "key conn.db.max_body: bad value '2G'");
    expect_error("[admin]\nstale_after = 0\n", "gg.ini:2:", "key stale_after: bad value '0'");
    expect_error("[gridgate]\nlog_level = loud\n", "gg.ini:2:", "key log_level: 'loud' is not one of debug, info, warn, error");
}

/* The unknown-key error lists the keys its section accepts. */
static void test_unknown_key_lists_accepted(void **state) {
    (void)state;
    expect_error("[gridgate]\nstate_dir = x\n", "unknown key 'state_dir' in [gridgate]",
                 "accepted keys: state, log_level, log_format, log_file, shutdown_timeout, workers, early_phase2, match_scope_max, match_debounce, match_max_wait, progress_interval, today");
    expect_error("[delivery]\nattempts = 3\n", "unknown key 'attempts' in [delivery]",
                 "accepted keys: max_attempts, backoff_base_ms, backoff_max_ms, verdict_deadline_days");
    expect_error("[admin]\nport = 1\n", "unknown key 'port' in [admin]", "accepted keys: listen, token_file, stale_after");
    expect_error("[source a]\nadapter = a.lua\nconn.db.colour = red\n", "unknown key 'conn.db.colour' in [source a]",
                 "conn.<c>.token_env");
    expect_error("[rule assistance_hidden_assets]\ngrace_months = 1\n", "unknown key 'grace_months'",
                 "accepted keys: enabled, exempt_subkinds");
}

/* Every key of the map and of every rule has a type name and help; map keys
 * are unique within their section. */
static void test_map_complete(void **state) {
    (void)state;
    const char *sections[] = {"gridgate", "source", "route", "delivery", "admin"};
    assert_true(config_map_count() > 20);
    assert_null(config_map_at(config_map_count()));
    for (size_t i = 0; i < config_map_count(); i++) {
        const confkey *k = config_map_at(i);
        int known = 0;
        for (size_t j = 0; j < sizeof sections / sizeof *sections; j++) known |= !strcmp(k->section, sections[j]);
        assert_true(known);
        assert_true(k->help && *k->help);
        assert_string_not_equal(confkey_type_name(k->type), "?");
        if (k->type == CK_INT || k->type == CK_LONG || k->type == CK_SIZE) assert_true(k->min <= k->max);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(config_map_at(j)->section, k->section)) assert_string_not_equal(config_map_at(j)->key, k->key);
    }
    for (size_t r = 0; r < rules_count(); r++) {
        const rule_desc *d = rules_get((rule_id)r);
        for (size_t k = 0; k < d->nkeys; k++) assert_true(d->keys[k].help && *d->keys[k].help);
    }
    for (size_t k = 0; k < rules_ncommon_keys; k++) assert_true(rules_common_keys[k].help && *rules_common_keys[k].help);
}

/* The match's digest takes every setting but those no alert depends on:
 * comments, spacing, a log level, a schedule or delivery retries leave it;
 * a rule's setting, a route, a source's limits or connection change it. */
static uint64_t match_hash_of(const char *text) {
    char err[512];
    gg_config *c = load(text, err, sizeof err);
    if (!c) fail_msg("config: %s", err);
    uint64_t h = c->match_hash;
    config_free(c);
    return h;
}

static void test_match_hash(void **state) {
    (void)state;
    write_file("a.lua", "return { streams = {} }", 0644);
    static const char base[] = "[gridgate]\nlog_level = info\n"
                               "[source psb]\nadapter = a.lua\nconn.db = pg:dbname=x\n"
                               "[rule pension_after_death]\ngrace_months = 1\n";
    uint64_t h = match_hash_of(base);
    /* the same settings, written otherwise or beside others that do not count */
    assert_true(match_hash_of("; a comment\n[gridgate]\n  log_level   =   debug\nlog_format = json\nworkers = 2\n"
                              "match_debounce = 9s\n\n[source psb]\nadapter = a.lua\n# another\nconn.db = pg:dbname=x\n"
                              "schedule.interval = 15m\nschedule.window = 01:00-05:00\npull_timeout = 60\n"
                              "max_workers = 1\npush_batch = 10\n[rule pension_after_death]\ngrace_months = 1\n"
                              "[delivery]\nmax_attempts = 3\nbackoff_base_ms = 10\nbackoff_max_ms = 100\n") == h);
    /* what an alert may depend on */
    assert_true(match_hash_of("[gridgate]\nlog_level = info\n[source psb]\nadapter = a.lua\nconn.db = pg:dbname=x\n"
                              "[rule pension_after_death]\ngrace_months = 2\n") != h);
    assert_true(match_hash_of("[gridgate]\nlog_level = info\n[source psb]\nadapter = a.lua\nconn.db = pg:dbname=y\n"
                              "[rule pension_after_death]\ngrace_months = 1\n") != h);
    assert_true(match_hash_of("[gridgate]\nlog_level = info\n[source psb]\nadapter = a.lua\nconn.db = pg:dbname=x\n"
                              "max_amount = 500\n[rule pension_after_death]\ngrace_months = 1\n") != h);
    assert_true(match_hash_of("[gridgate]\nlog_level = info\ntoday = 2025-06-30\n[source psb]\nadapter = a.lua\n"
                              "conn.db = pg:dbname=x\n[rule pension_after_death]\ngrace_months = 1\n") != h);
    assert_true(match_hash_of("[gridgate]\nlog_level = info\n[source psb]\nadapter = a.lua\nconn.db = pg:dbname=x\n"
                              "[rule pension_after_death]\ngrace_months = 1\n[route]\npension_after_death = psb\n") != h);
    /* a setting moved to another source is another setting */
    assert_true(match_hash_of("[gridgate]\nlog_level = info\n[source hr]\nadapter = a.lua\nconn.db = pg:dbname=x\n"
                              "[rule pension_after_death]\ngrace_months = 1\n") != h);
}

/* docs/configuration.md holds exactly what `gridgate config keys --markdown` prints. */
static void test_reference_matches_map(void **state) {
    (void)state;
    const char *src = getenv("GG_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/docs/configuration.md", src ? src : GG_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char doc[65536];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    const char *begin = strstr(doc, "<!-- BEGIN gridgate config keys --markdown -->\n");
    const char *end = strstr(doc, "<!-- END gridgate config keys -->");
    assert_non_null(begin);
    assert_non_null(end);
    begin += strlen("<!-- BEGIN gridgate config keys --markdown -->\n");
    char *gen = NULL;
    size_t genlen = 0;
    FILE *m = open_memstream(&gen, &genlen);
    assert_non_null(m);
    config_keys_print(m, 1);
    fclose(m);
    if ((size_t)(end - begin) != genlen || memcmp(begin, gen, genlen) != 0) {
        print_error("docs/configuration.md is out of date: regenerate its table with "
                    "`gridgate config keys --markdown`\n");
        free(gen);
        fail();
    }
    free(gen);
}

/* A configuration named by a relative path (gridgate -c conf/demo.ini from the
 * repository): its relative paths resolve against its directory once. They
 * were resolved twice for the adapter (conf/conf/../adapters/x.lua: "adapter
 * not loaded"). */
static void test_relative_config_path(void **state) {
    (void)state;
    write_file("gg.ini", "[gridgate]\nstate = state.db\n[source hr]\nadapter = ../adapters/hr.lua\n", 0644);
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir("/tmp"), 0);
    char rel[128], expect[160], err[512] = "";
    snprintf(rel, sizeof rel, "%s/gg.ini", tmpdir + strlen("/tmp/"));
    gg_config *c = config_load(rel, err, sizeof err);
    assert_int_equal(chdir(cwd), 0);
    if (!c) fail_msg("config_load(%s): %s", rel, err);
    const gg_source_conf *hr = config_source(c, "hr");
    assert_non_null(hr);
    snprintf(expect, sizeof expect, "%s/../adapters/hr.lua", tmpdir + strlen("/tmp/"));
    assert_string_equal(hr->adapter, expect);
    snprintf(expect, sizeof expect, "%s/state.db", tmpdir + strlen("/tmp/"));
    assert_string_equal(c->state_path, expect);
    config_free(c);
}

static void test_missing_file(void **state) {
    (void)state;
    char err[512];
    gg_config *c = config_load("/nonexistent/gridgate.ini", err, sizeof err);
    assert_null(c);
    assert_non_null(strstr(err, "/nonexistent/gridgate.ini"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_errors_name_line_and_key),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_relative_config_path),
        cmocka_unit_test(test_map_defaults),
        cmocka_unit_test(test_map_ranges),
        cmocka_unit_test(test_unknown_key_lists_accepted),
        cmocka_unit_test(test_map_complete),
        cmocka_unit_test(test_reference_matches_map),
        cmocka_unit_test(test_match_hash),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
