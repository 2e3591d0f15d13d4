/*
 * snapshot.c - capture the environment a command runs in (see snapshot.h).
 *
 * Like the original's capture_environment(), nothing here fails the run: a missing git,
 * a directory outside any repository, no Julia, no lock files, an unreadable file, each
 * just leaves its part empty. Git and Julia are asked through their own command-line
 * tools (fork/exec, output read from a pipe), so there is no library to link and the
 * answer is exactly what the user would get typing the same command.
 */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Lock files of other ecosystems, captured verbatim from the working directory. */
static const char *const lock_files[] = {
    "requirements.txt", "poetry.lock",  "uv.lock",          "environment.yml",
    "Cargo.lock",       "package-lock.json",
};

/* A captured file larger than this is skipped with a warning: a snapshot is metadata,
 * and the row is loaded whole when env/ is read. */
#define CAPTURE_FILE_MAX (16u << 20)
/* How much of a helper command's output is kept (a SHA, a version, a status listing). */
#define OUTPUT_MAX 65536

/* Read the whole regular file `path` (at most `max` bytes) into a malloc'd,
 * NUL-terminated buffer. NULL when it is missing, not a regular file, unreadable or too
 * big (a warning is printed for the last two). */
static char *read_small_file(const char *path, size_t max, size_t *len_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat sb;
    char *data = NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        goto out;
    if ((size_t)sb.st_size > max) {
        fprintf(stderr, "deardiary run: %s is over %zu bytes; not captured\n", path, max);
        goto out;
    }
    data = malloc((size_t)sb.st_size + 1);
    size_t len = 0;
    while (data && len <= max) {
        ssize_t n = read(fd, data + len, (size_t)sb.st_size + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || len + (size_t)n > (size_t)sb.st_size) {   /* error, or it grew */
            if (n < 0)
                fprintf(stderr, "deardiary run: reading %s: %s\n", path, strerror(errno));
            free(data);
            data = NULL;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (data) {
        data[len] = '\0';
        *len_out = len;
    }
out:
    close(fd);
    return data;
}

/* Run argv (searched in PATH) with stdin and stderr on /dev/null and return what it
 * printed (malloc'd, NUL-terminated, at most OUTPUT_MAX bytes), or NULL when it could not
 * be started or did not exit 0. */
static char *command_output(char *const argv[])
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return NULL;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 2) < 0 || dup2(fds[1], 1) < 0)
            _exit(127);
        /* a background `git status` must not take the index lock the user's git needs */
        setenv("GIT_OPTIONAL_LOCKS", "0", 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    char *out = malloc(OUTPUT_MAX + 1);
    size_t len = 0;
    for (;;) {
        char sink[4096];
        char *dst = out && len < OUTPUT_MAX ? out + len : sink;
        size_t room = out && len < OUTPUT_MAX ? OUTPUT_MAX - len : sizeof sink;
        ssize_t n = read(fds[0], dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (dst != sink)
            len += (size_t)n;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        free(out);
        return NULL;
    }
    out[len] = '\0';
    return out;
}

/* Drop trailing whitespace in place. */
static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

/* HEAD's SHA and whether tracked files differ from it, when the working directory is in
 * a git repository and git is installed. Untracked files do not make a tree dirty (as
 * LibGit2's isdirty in the original, and GitPython's is_dirty()). */
static int capture_git(dd_capture *cap)
{
    char *head_argv[] = {"git", "rev-parse", "--verify", "-q", "HEAD", NULL};
    char *sha = command_output(head_argv);
    if (!sha)
        return 0;
    chomp(sha);
    if (strlen(sha) != 40 && strlen(sha) != 64) {   /* SHA-1 or SHA-256 repositories */
        free(sha);
        return 0;
    }
    char *status_argv[] = {"git", "status", "--porcelain", "--untracked-files=no", NULL};
    char *status = command_output(status_argv);
    free(cap->git_sha);
    cap->git_sha = sha;
    cap->git_dirty = status && status[0] != '\0';
    free(status);
    return 0;
}

/* Does argv[0] run Julia (julia, julia-1.10, /opt/julia/bin/julia, ...)? */
static bool is_julia(const char *argv0)
{
    const char *base = strrchr(argv0, '/');
    return strncmp(base ? base + 1 : argv0, "julia", 5) == 0;
}

/* "julia version 1.10.2" -> "1.10.2", from the very binary the run will execute. */
static int capture_julia_version(dd_capture *cap, const char *argv0)
{
    char *argv[] = {(char *)argv0, "--version", NULL};
    char *out = command_output(argv);
    if (!out)
        return 0;
    chomp(out);
    const char *v = strrchr(out, ' ');
    char *version = strdup(v ? v + 1 : out);
    free(out);
    if (!version)
        return -1;
    free(cap->julia_version);
    cap->julia_version = version;
    return 0;
}

/* The directory of a Julia project named by --project or JULIA_PROJECT: "" and "@." mean
 * the nearest directory from the working directory up holding a Project.toml; a path to
 * a .toml file means its directory. malloc'd; NULL when there is none. */
static char *project_dir(const char *spec)
{
    if (spec[0] == '\0' || strcmp(spec, "@.") == 0) {
        char *dir = get_current_dir_name();
        while (dir) {
            char *p = NULL;
            if (asprintf(&p, "%s/Project.toml", dir) < 0)
                p = NULL;
            bool found = p && access(p, R_OK) == 0;
            free(p);
            if (found)
                return dir;
            char *slash = strrchr(dir, '/');
            if (!slash || slash == dir) {
                free(dir);
                return NULL;
            }
            *slash = '\0';
        }
        return NULL;
    }
    if (spec[0] == '@')   /* named environments (@v1.10, @stdlib): not resolved here */
        return NULL;
    size_t n = strlen(spec);
    if (n > 5 && strcmp(spec + n - 5, ".toml") == 0) {
        const char *slash = strrchr(spec, '/');
        return slash ? strndup(spec, (size_t)(slash - spec)) : strdup(".");
    }
    return strdup(spec);
}

/* Where the active Julia project is: the command's --project[=...] (Julia commands only),
 * else JULIA_PROJECT, else the working directory. */
static char *active_project(int argc, char **argv, bool julia)
{
    for (int i = 1; julia && i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--project") == 0)
            return project_dir("@.");
        if (strncmp(argv[i], "--project=", 10) == 0)
            return project_dir(argv[i] + 10);
    }
    const char *env = getenv("JULIA_PROJECT");
    return env ? project_dir(env) : strdup(".");
}

/* Project.toml (or JuliaProject.toml) and the sibling Manifest.toml, verbatim. */
static int capture_julia_project(dd_capture *cap, int argc, char **argv, bool julia)
{
    char *dir = active_project(argc, argv, julia);
    if (!dir)
        return 0;
    static const char *const project_names[] = {"JuliaProject.toml", "Project.toml"};
    int rc = 0;
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        char *path = NULL, *data = NULL;
        size_t len = 0;
        if (asprintf(&path, "%s/%s", dir, project_names[i]) < 0) {
            rc = -1;
            break;
        }
        data = read_small_file(path, CAPTURE_FILE_MAX, &len);
        free(path);
        if (data) {
            free(cap->project_toml);
            cap->project_toml = data;
            break;
        }
    }
    char *path = NULL;
    size_t len = 0;
    if (rc == 0 && asprintf(&path, "%s/Manifest.toml", dir) >= 0) {
        char *data = read_small_file(path, CAPTURE_FILE_MAX, &len);
        if (data) {
            free(cap->manifest_toml);
            cap->manifest_toml = data;
        }
        free(path);
    }
    free(dir);
    return rc;
}

/* The other ecosystems' lock files present in the working directory. */
static void capture_lock_files(dd_capture *cap)
{
    for (size_t i = 0; i < sizeof lock_files / sizeof lock_files[0]; i++) {
        size_t len = 0;
        char *data = read_small_file(lock_files[i], CAPTURE_FILE_MAX, &len);
        if (!data || cap->nfiles == DD_CAPTURE_MAX_FILES) {
            free(data);
            continue;
        }
        cap->files[cap->nfiles++] = (dd_snapshot_file){lock_files[i], data, len};
    }
}

/* Does `arg` need quoting to reach sh as one unchanged word? */
static bool needs_quotes(const char *arg)
{
    if (!*arg)
        return true;
    for (const char *p = arg; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                    "-_./=:,+@%^", *p))
            return true;
    return false;
}

char *dd_command_line(int argc, char **argv)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return NULL;
    for (int i = 0; i < argc; i++) {
        if (i)
            fputc(' ', f);
        if (!needs_quotes(argv[i])) {
            fputs(argv[i], f);
            continue;
        }
        fputc('\'', f);   /* 'it'\''s' : close, escaped quote, reopen */
        for (const char *p = argv[i]; *p; p++)
            fputs(*p == '\'' ? "'\\''" : (char[2]){*p, 0}, f);
        fputc('\'', f);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

int dd_capture_environment(dd_capture *cap, int argc, char **argv)
{
    memset(cap, 0, sizeof *cap);
    cap->julia_version = strdup("");
    cap->git_sha = strdup("");
    cap->project_toml = strdup("");
    cap->manifest_toml = strdup("");
    cap->entrypoint = dd_command_line(argc, argv);
    if (!cap->julia_version || !cap->git_sha || !cap->project_toml || !cap->manifest_toml ||
        !cap->entrypoint)
        return -1;
    bool julia = argc > 0 && is_julia(argv[0]);
    if (capture_git(cap) != 0 || (julia && capture_julia_version(cap, argv[0]) != 0) ||
        capture_julia_project(cap, argc, argv, julia) != 0)
        return -1;
    capture_lock_files(cap);
    return 0;
}

void dd_capture_free(dd_capture *cap)
{
    free(cap->julia_version);
    free(cap->git_sha);
    free(cap->entrypoint);
    free(cap->project_toml);
    free(cap->manifest_toml);
    for (size_t i = 0; i < cap->nfiles; i++)
        free((void *)cap->files[i].data);
    memset(cap, 0, sizeof *cap);
}

dd_snapshot dd_capture_snapshot(const dd_capture *cap)
{
    return (dd_snapshot){cap->julia_version, cap->git_sha, cap->git_dirty, cap->entrypoint,
                         cap->project_toml, cap->manifest_toml};
}
