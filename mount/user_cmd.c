/*
 * user_cmd.c - `deardiary user add|passwd|list|delete|admin|grant|revoke|show`: the users
 * and per-project rights of a registry, managed from the shell.
 *
 * Every subcommand is one store call and so one transaction (backend/store/users.c holds the
 * rules: `default` can be neither deleted nor demoted, deleting a user removes its rights,
 * passwords are bcrypt hashes). Passwords come from the terminal without echo, or from
 * stdin with --password-stdin; they are never printed, logged or put in a message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "commands.h"
#include "locate.h"

#define PASSWORD_MAX 1024

static void user_usage(FILE *out)
{
    fprintf(out,
            "usage: deardiary user [--db DB] COMMAND ...\n"
            "\n"
            "  add USER [--first-name F] [--last-name L] [--password-stdin]\n"
            "                         a new (non-admin) user; asks for its password\n"
            "  passwd USER [--password-stdin]\n"
            "                         set USER's password\n"
            "  list                   every user: name, admin or not, full name\n"
            "  delete USER            remove USER and its rights (not `default`)\n"
            "  admin USER [--off]     make USER an administrator (--off: no longer)\n"
            "  grant USER PROJECT [--create] [--read] [--update] [--delete]\n"
            "                         give USER those rights on PROJECT\n"
            "  revoke USER PROJECT [--create] [--read] [--update] [--delete]\n"
            "                         take those rights away (none named: every right)\n"
            "  show USER              USER and its rights per project\n"
            "\n"
            "DB is a database file or any path in a mount of one (default: the configured\n"
            "database). A password is asked twice on the terminal, without echo; with\n"
            "--password-stdin the first line of stdin is the password. Empty passwords are\n"
            "refused.\n");
}

/* ---------------------------------------------------------------- passwords */

/* Strip one trailing "\n" (and a "\r" before it). */
static void chomp(char *s)
{
    size_t n = strlen(s);
    if (n && s[n - 1] == '\n')
        s[--n] = '\0';
    if (n && s[n - 1] == '\r')
        s[--n] = '\0';
}

/* Prompt on the terminal `tty` with echo off; 0 or -1. */
static int ask_tty(FILE *tty, const char *prompt, char *buf, size_t len)
{
    struct termios old, quiet;
    int fd = fileno(tty);
    if (tcgetattr(fd, &old) != 0)
        return -1;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    /* echo off before the prompt shows: an answer typed as soon as it appears must
     * neither echo nor be discarded by TCSAFLUSH (which drops unread input) */
    if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0)
        return -1;
    fputs(prompt, tty);
    fflush(tty);
    char *got = fgets(buf, (int)len, tty);
    tcsetattr(fd, TCSAFLUSH, &old);
    if (!got)
        return -1;
    chomp(buf);
    return 0;
}

/* The new password into buf: the first line of stdin, or asked twice on the terminal.
 * Prints the problem and returns -1 (empty, mismatch, no terminal). */
static int read_password(bool from_stdin, char *buf, size_t len)
{
    buf[0] = '\0';
    if (from_stdin) {
        if (!fgets(buf, (int)len, stdin))
            buf[0] = '\0';
        chomp(buf);
    } else {
        FILE *tty = fopen("/dev/tty", "r+");
        if (!tty) {
            fprintf(stderr, "deardiary user: no terminal to ask for the password on;"
                            " use --password-stdin\n");
            return -1;
        }
        char again[PASSWORD_MAX];
        int rc = ask_tty(tty, "New password: ", buf, len) == 0
                 && ask_tty(tty, "Repeat it: ", again, sizeof again) == 0 ? 0 : -1;
        fclose(tty);
        if (rc == 0 && strcmp(buf, again) != 0) {
            fprintf(stderr, "deardiary user: the passwords differ; nothing changed\n");
            rc = -1;
        }
        explicit_bzero(again, sizeof again);
        if (rc != 0)
            return -1;
    }
    if (!buf[0]) {
        fprintf(stderr, "deardiary user: the password is empty; nothing changed\n");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- subcommands */

typedef struct user_args {
    const char *cmd, *user, *project;
    const char *first_name, *last_name;
    bool password_stdin, off;
    int c, r, u, d;   /* -1: not named */
} user_args;

static int fail_code(const dd_err *err)
{
    fprintf(stderr, "deardiary user: %s\n", err->msg);
    return 1;
}

static int cmd_add(dd_store *st, const user_args *a)
{
    char pw[PASSWORD_MAX];
    if (read_password(a->password_stdin, pw, sizeof pw) != 0)
        return 1;
    dd_err err = {0};
    dd_code code = dd_user_create(st, a->first_name, a->last_name, a->user, pw, NULL, &err);
    explicit_bzero(pw, sizeof pw);
    return code == DD_OK ? 0 : fail_code(&err);
}

/* Find a named user, or print why not. */
static int find_user(dd_store *st, const char *name, dd_user *u)
{
    dd_err err = {0};
    return dd_user_find(st, name, u, &err) == DD_OK ? 0 : -fail_code(&err);
}

static int cmd_passwd(dd_store *st, const user_args *a)
{
    dd_user u;
    if (find_user(st, a->user, &u) != 0)
        return 1;
    char pw[PASSWORD_MAX];
    int rc = 1;
    if (read_password(a->password_stdin, pw, sizeof pw) == 0) {
        dd_err err = {0};
        rc = dd_user_update(st, u.id, NULL, NULL, pw, -1, &err) == DD_OK ? 0 : fail_code(&err);
    }
    explicit_bzero(pw, sizeof pw);
    dd_user_clear(&u);
    return rc;
}

static int print_user(void *ctx, const dd_user *u)
{
    (void)ctx;
    printf("%s\t%s\t%s%s%s\n", u->username, u->is_admin ? "admin" : "-", u->first_name,
           u->first_name[0] && u->last_name[0] ? " " : "", u->last_name);
    return 0;
}

static int cmd_list(dd_store *st, const user_args *a)
{
    (void)a;
    dd_err err = {0};
    return dd_user_list(st, print_user, NULL, &err) == DD_OK ? 0 : fail_code(&err);
}

static int cmd_delete(dd_store *st, const user_args *a)
{
    dd_user u;
    if (find_user(st, a->user, &u) != 0)
        return 1;
    dd_err err = {0};
    int rc = dd_user_delete(st, u.id, &err) == DD_OK ? 0 : fail_code(&err);
    dd_user_clear(&u);
    return rc;
}

static int cmd_admin(dd_store *st, const user_args *a)
{
    dd_user u;
    if (find_user(st, a->user, &u) != 0)
        return 1;
    dd_err err = {0};
    int rc = dd_user_update(st, u.id, NULL, NULL, NULL, a->off ? 0 : 1, &err) == DD_OK
                 ? 0 : fail_code(&err);
    dd_user_clear(&u);
    return rc;
}

static int cmd_grant(dd_store *st, const user_args *a)
{
    dd_err err = {0};
    bool none = a->c < 0 && a->r < 0 && a->u < 0 && a->d < 0;
    dd_code code;
    if (strcmp(a->cmd, "grant") == 0) {
        if (none) {
            fprintf(stderr, "deardiary user grant: name at least one of --create, --read,"
                            " --update, --delete\n");
            return 2;
        }
        code = dd_permission_set(st, a->user, a->project, a->c, a->r, a->u, a->d, &err);
    } else if (none) {
        code = dd_permission_remove(st, a->user, a->project, &err);
    } else {   /* a named flag is 1 in the arguments: revoking sets it to 0 */
        code = dd_permission_set(st, a->user, a->project, a->c > 0 ? 0 : -1,
                                 a->r > 0 ? 0 : -1, a->u > 0 ? 0 : -1, a->d > 0 ? 0 : -1, &err);
    }
    return code == DD_OK ? 0 : fail_code(&err);
}

/* `show`: the rows are collected first (a listing callback must not call the store). */
typedef struct perm_rows {
    dd_user_permission *rows;
    size_t n, cap;
} perm_rows;

static int collect_perm(void *ctx, const dd_user_permission *p)
{
    perm_rows *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        dd_user_permission *rows = realloc(l->rows, cap * sizeof *rows);
        if (!rows)
            return 1;
        l->rows = rows;
        l->cap = cap;
    }
    l->rows[l->n++] = *p;
    return 0;
}

static void print_rights(dd_store *st, const dd_user_permission *p)
{
    dd_project pr;
    dd_err err = {0};
    if (dd_project_get(st, p->project_id, &pr, &err) != DD_OK)
        return;   /* deleted meanwhile */
    printf("  %s\t%s%s%s%s\n", pr.name, p->create_permission ? "c" : "-",
           p->read_permission ? "r" : "-", p->update_permission ? "u" : "-",
           p->delete_permission ? "d" : "-");
    dd_project_clear(&pr);
}

static int cmd_show(dd_store *st, const user_args *a)
{
    dd_user u;
    if (find_user(st, a->user, &u) != 0)
        return 1;
    printf("username: %s\nfirst_name: %s\nlast_name: %s\ncreated: %s\nadmin: %s\n",
           u.username, u.first_name, u.last_name, u.created_date, u.is_admin ? "yes" : "no");
    perm_rows l = {0};
    dd_err err = {0};
    int rc = dd_permission_list(st, u.id, 0, collect_perm, &l, &err) == DD_OK ? 0
                                                                               : fail_code(&err);
    if (rc == 0) {
        printf("rights (create, read, update, delete):%s\n", l.n ? "" : " none");
        for (size_t i = 0; i < l.n; i++)
            print_rights(st, &l.rows[i]);
    }
    free(l.rows);
    dd_user_clear(&u);
    return rc;
}

/* ---------------------------------------------------------------- arguments */

typedef struct user_sub {
    const char *name;
    int npos;   /* positional arguments after the subcommand: USER [PROJECT] */
    int (*run)(dd_store *st, const user_args *a);
} user_sub;

static const user_sub subs[] = {
    {"add", 1, cmd_add},       {"passwd", 1, cmd_passwd}, {"list", 0, cmd_list},
    {"delete", 1, cmd_delete}, {"admin", 1, cmd_admin},   {"grant", 2, cmd_grant},
    {"revoke", 2, cmd_grant},  {"show", 1, cmd_show},
};

/* One option of a subcommand; 1 when `argv[*i]` was one (consuming its value), 0 if not. */
static int parse_option(int argc, char **argv, int *i, user_args *a)
{
    static const char *const flags[] = {"--create", "--read", "--update", "--delete"};
    int *dst[] = {&a->c, &a->r, &a->u, &a->d};
    for (int k = 0; k < 4; k++)
        if (strcmp(argv[*i], flags[k]) == 0)
            return *dst[k] = 1;
    if (strcmp(argv[*i], "--password-stdin") == 0)
        return a->password_stdin = true;
    if (strcmp(argv[*i], "--off") == 0)
        return a->off = true;
    const char **val = strcmp(argv[*i], "--first-name") == 0  ? &a->first_name
                       : strcmp(argv[*i], "--last-name") == 0 ? &a->last_name : NULL;
    if (!val || *i + 1 >= argc)
        return 0;
    *val = argv[++*i];
    return 1;
}

/* Fill `a` from argv (after "user"); the subcommand, or NULL after printing the usage. */
static const user_sub *parse_args(int argc, char **argv, const char **db, user_args *a)
{
    const char *pos[3] = {NULL, NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
            *db = argv[++i];
        else if (argv[i][0] == '-' && parse_option(argc, argv, &i, a))
            continue;
        else if (argv[i][0] != '-' && npos < 3)
            pos[npos++] = argv[i];
        else
            return NULL;
    }
    for (size_t k = 0; npos > 0 && k < sizeof subs / sizeof subs[0]; k++) {
        if (strcmp(subs[k].name, pos[0]) != 0 || npos - 1 != subs[k].npos)
            continue;
        a->cmd = pos[0];
        a->user = pos[1];
        a->project = pos[2];
        return &subs[k];
    }
    return NULL;
}

/* --db names a database file, or any path in a mount of one. */
static char *database_of(const char *db, const dd_config *cfg)
{
    dd_located loc;
    if (db && dd_locate_path(db, &loc) == 1) {
        char *path = loc.db;
        loc.db = NULL;
        dd_located_free(&loc);
        return path;
    }
    return strdup(db ? db : cfg->db_file);
}

int dd_cmd_user(const char *config_file, int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            user_usage(stdout);
            return 0;
        }
    user_args a = {.c = -1, .r = -1, .u = -1, .d = -1};
    const char *db = NULL;
    const user_sub *sub = parse_args(argc, argv, &db, &a);
    if (!sub) {
        user_usage(stderr);
        return 2;
    }
    dd_config cfg;
    if (dd_cmd_load_config(&cfg, config_file) != 0)
        return 1;
    char *path = database_of(db, &cfg);
    dd_store *st = NULL;
    int rc = path && dd_cmd_open_store(&cfg, path, &st) == 0 && dd_cmd_check_store(st, path) == 0
                 ? sub->run(st, &a) : 1;
    dd_store_close(st);
    free(path);
    dd_config_free(&cfg);
    return rc;
}
