/* checks.h: the check macros of the C check programs (test_*.c beside their Python tests), so that each check's
 * name is written once, in its CHECK.
 *
 * CHECK(name, cond, fmt, ...) prints "ok NAME" or "FAIL NAME: why" and counts failures.  Its
 * name (a string literal) is also placed in the linker section walkit_checks, so that
 * `PROGRAM --list` prints every check the program contains without running any: the Python
 * side (tests/support/c_checks.py) makes one pytest item per listed name, and a listed check
 * missing from a run's output fails.  FAIL_REPORT(name, fmt, ...) reports a failure that is
 * not a check of its own (a set-up step that went wrong): it is not listed.
 *
 * A program calls checks_list_if_asked(argc, argv) first thing in main, and ends with
 * `return checks_done();`. */
#ifndef WALKIT_TESTS_CHECKS_H
#define WALKIT_TESTS_CHECKS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Failed checks so far, in this program (one counter even when several files use CHECK). */
extern int check_failures;

#define CHECK(name, cond, ...)                                                                  \
    do {                                                                                        \
        static const char *const check_name_                                                    \
            __attribute__((used, section("walkit_checks"))) = name;                             \
        if (cond) {                                                                             \
            printf("ok %s\n", check_name_);                                                     \
        } else {                                                                                \
            printf("FAIL %s: ", check_name_);                                                   \
            printf(__VA_ARGS__);                                                                \
            printf("\n");                                                                       \
            check_failures++;                                                                   \
        }                                                                                       \
        fflush(stdout); /* whole lines out even if the program then crashes or is killed */    \
    } while (0)

#define FAIL_REPORT(name, ...)                                                                  \
    do {                                                                                        \
        printf("FAIL %s: ", name);                                                              \
        printf(__VA_ARGS__);                                                                    \
        printf("\n");                                                                           \
        check_failures++;                                                                       \
    } while (0)

/* The linker (GNU ld, lld) defines these around a section whose name is a C identifier. */
extern const char *const __start_walkit_checks[];
extern const char *const __stop_walkit_checks[];

/* Exactly one file of a program defines CHECKS_MAIN before including this header: it holds
 * the counter and the two functions below. */
#ifdef CHECKS_MAIN
int check_failures;

/* With argv[1] == "--list": prints each check name once (in section order; a CHECK reached
 * from a loop or a repeated call is still one name) and exits 0. */
static void checks_list_if_asked(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--list") != 0) return;
    for (const char *const *p = __start_walkit_checks; p < __stop_walkit_checks; p++) {
        const char *const *q = __start_walkit_checks;
        while (q < p && strcmp(*q, *p) != 0) q++;
        if (q == p) printf("%s\n", *p);
    }
    exit(0);
}

/* Prints the failure count; the program's exit status is that count. */
static int checks_done(void)
{
    printf("%d failures\n", check_failures);
    return check_failures;
}
#endif

#endif
