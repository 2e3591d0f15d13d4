/*
 * password.h - reading a password for a command: from the terminal without echo, or the
 * first line of stdin (--password-stdin). Shared by `deardiary user` (a new password,
 * asked twice) and `deardiary login` (a password to send, asked once). The password is
 * never printed; callers wipe their buffer with explicit_bzero when done.
 */
#ifndef DD_PASSWORD_H
#define DD_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define DD_PASSWORD_MAX 1024

/*
 * The password into buf (len bytes, NUL-terminated, without its line end): the first line
 * of stdin when from_stdin, else asked on /dev/tty with echo off, with `prompt`, and when
 * `confirm` asked again with "Repeat it: " and compared. Prints
 * "<cmd>: <problem>; nothing changed" to stderr and returns -1 when there is no terminal,
 * the answers differ, or the password is empty; 0 otherwise.
 */
int dd_password_read(const char *cmd, const char *prompt, bool from_stdin, bool confirm,
                     char *buf, size_t len);

#endif
