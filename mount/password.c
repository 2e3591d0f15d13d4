/*
 * password.c - see password.h.
 */
#include <stdio.h>
#include <string.h>
#include <termios.h>

#include "password.h"

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
    /* echo off before the prompt shows: an answer typed (or pasted) the moment the
     * prompt appears must neither be echoed nor flushed away by TCSAFLUSH */
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

/* Ask on the terminal, once or twice. */
static int read_tty(const char *cmd, const char *prompt, bool confirm, char *buf, size_t len)
{
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty) {
        fprintf(stderr, "%s: no terminal to ask for the password on; use --password-stdin\n",
                cmd);
        return -1;
    }
    char again[DD_PASSWORD_MAX];
    int rc = ask_tty(tty, prompt, buf, len);
    if (rc == 0 && confirm)
        rc = ask_tty(tty, "Repeat it: ", again, sizeof again);
    fclose(tty);
    if (rc == 0 && confirm && strcmp(buf, again) != 0) {
        fprintf(stderr, "%s: the passwords differ; nothing changed\n", cmd);
        rc = -1;
    }
    explicit_bzero(again, sizeof again);
    return rc;
}

int dd_password_read(const char *cmd, const char *prompt, bool from_stdin, bool confirm,
                     char *buf, size_t len)
{
    buf[0] = '\0';
    if (from_stdin) {
        if (!fgets(buf, (int)len, stdin))
            buf[0] = '\0';
        chomp(buf);
    } else if (read_tty(cmd, prompt, confirm, buf, len) != 0) {
        return -1;
    }
    if (!buf[0]) {
        fprintf(stderr, "%s: the password is empty; nothing changed\n", cmd);
        return -1;
    }
    return 0;
}
