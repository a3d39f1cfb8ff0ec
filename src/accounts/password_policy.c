/* accounts/password_policy - the rules a new password must meet.
 *
 * Room: accounts.  libpwquality does the checks that need knowledge
 * (cracklib's dictionary, names hidden in some form); length, character
 * classes and the plain search for each part of the address are counted
 * here as well, because the admin deserves every problem at once, with
 * the numbers and the offending word named, and pwquality stops at the
 * first problem with a generic sentence.  Length counts characters (UTF-8
 * code points), not octets. */
#include "accounts/password_policy.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pwquality.h>

#include "core/util.h"

#define WORDS_MAX 16   /* parts of an address looked for */
#define PROBLEMS_MAX 8 /* findings listed in one message */
#define PROBLEM_LEN 200
#define PWQ_LENGTH_FLOOR 6 /* libpwquality's lowest min_length */

/* The parts of an address a password must not contain. */
struct words {
    char w[WORDS_MAX][256];
    bool from_user[WORDS_MAX]; /* local part (else domain) */
    size_t n;
};

/* The findings about one password. */
struct problems {
    char p[PROBLEMS_MAX][PROBLEM_LEN];
    size_t n;
};

static void add_problem(struct problems *pr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* add_problem - note one finding (a long word may be cut: still a finding). */
static void add_problem(struct problems *pr, const char *fmt, ...)
{
    va_list ap;
    if (pr->n >= PROBLEMS_MAX)
        return;
    va_start(ap, fmt);
    vsnprintf(pr->p[pr->n++], PROBLEM_LEN, fmt, ap);
    va_end(ap);
}

/* add_words - split S (LEN octets) at every character that is not an
 * ASCII letter or digit; keep the lowercased words of POLICY_WORD_MIN or
 * more that are not already there. */
static void add_words(struct words *w, const char *s, size_t len, bool user)
{
    size_t i = 0;
    while (i < len && w->n < WORDS_MAX) {
        size_t start = i;
        while (i < len && (isalnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80))
            i++;
        size_t k = i - start;
        if (k >= POLICY_WORD_MIN && k < sizeof w->w[0]) {
            memcpy(w->w[w->n], s + start, k);
            w->w[w->n][k] = '\0';
            str_lower(w->w[w->n]);
            bool dup = false;
            for (size_t j = 0; j < w->n; j++)
                dup = dup || strcmp(w->w[j], w->w[w->n]) == 0;
            if (!dup)
                w->from_user[w->n++] = user;
        }
        i++;
    }
}

/* address_words - the words of the local part, then of the domain's
 * labels but the last: a top-level domain ("com", "org") is no secret of
 * the account, and forbidding it would forbid "complex" with it. */
static void address_words(const char *address, struct words *w)
{
    const char *at = strrchr(address, '@');
    size_t local_len = at ? (size_t)(at - address) : strlen(address);
    add_words(w, address, local_len, true);
    if (at == NULL)
        return;
    const char *domain = at + 1, *tld = strrchr(domain, '.');
    add_words(w, domain, tld ? (size_t)(tld - domain) : 0, false);
}

/* contains_word - does LOWER (the lowercased password) hold WORD,
 * forwards or reversed? */
static bool contains_word(const char *lower, const char *word)
{
    char rev[256];
    size_t n = strlen(word);
    for (size_t i = 0; i < n; i++)
        rev[i] = word[n - 1 - i];
    rev[n] = '\0';
    return strstr(lower, word) != NULL || strstr(lower, rev) != NULL;
}

/* check_names - every part of ADDRESS found in PW. */
static bool check_names(const char *address, const char *pw, struct problems *pr)
{
    struct words w = {.n = 0};
    char *lower = strdup(pw);
    bool found = false;
    if (lower == NULL)
        return false;
    str_lower(lower);
    address_words(address, &w);
    const char *at = strrchr(address, '@');
    for (size_t i = 0; i < w.n; i++) {
        if (!contains_word(lower, w.w[i]))
            continue;
        found = true;
        if (w.from_user[i])
            add_problem(pr, "it contains the user name '%s'", w.w[i]);
        else
            add_problem(pr, "it contains '%s' from the domain name %s", w.w[i], at ? at + 1 : "");
    }
    free(lower);
    return found;
}

/* count_chars - characters of PW (UTF-8 code points). */
static size_t count_chars(const char *pw)
{
    size_t n = 0;
    for (; *pw; pw++)
        if (((unsigned char)*pw & 0xc0) != 0x80)
            n++;
    return n;
}

/* check_classes - lowercase, uppercase, digits and others (anything else,
 * non-ASCII letters included, as libpwquality counts them). */
static void check_classes(const struct config_passwords *p, const char *pw, struct problems *pr)
{
    bool lower = false, upper = false, digit = false, other = false;
    for (const unsigned char *c = (const unsigned char *)pw; *c; c++) {
        if (islower(*c))
            lower = true;
        else if (isupper(*c))
            upper = true;
        else if (isdigit(*c))
            digit = true;
        else
            other = true;
    }
    unsigned n = (unsigned)lower + upper + digit + other;
    if (n >= p->min_classes)
        return;
    char which[80] = "";
    const char *names[] = {lower ? "lowercase" : NULL, upper ? "uppercase" : NULL,
                           digit ? "digits" : NULL, other ? "others" : NULL};
    for (size_t i = 0; i < 4; i++) {
        if (names[i] == NULL)
            continue;
        if (which[0])
            strcat(which, ", ");
        strcat(which, names[i]);
    }
    add_problem(pr, "it uses %u character class%s (%s)", n, n == 1 ? "" : "es", n ? which : "none");
}

/* pwq_new - libpwquality settings that check nothing but what the caller
 * turns on: no length beyond its floor, no credits, no classes. */
static pwquality_settings_t *pwq_new(bool dict, bool user, const char *badwords)
{
    pwquality_settings_t *q = pwquality_default_settings();
    if (q == NULL)
        return NULL;
    static const int zero[] = {
        PWQ_SETTING_DIG_CREDIT,       PWQ_SETTING_UP_CREDIT,    PWQ_SETTING_LOW_CREDIT,
        PWQ_SETTING_OTH_CREDIT,       PWQ_SETTING_MIN_CLASS,    PWQ_SETTING_MAX_REPEAT,
        PWQ_SETTING_MAX_CLASS_REPEAT, PWQ_SETTING_MAX_SEQUENCE, PWQ_SETTING_GECOS_CHECK};
    int rc = pwquality_set_int_value(q, PWQ_SETTING_MIN_LENGTH, PWQ_LENGTH_FLOOR);
    for (size_t i = 0; rc == 0 && i < sizeof zero / sizeof zero[0]; i++)
        rc = pwquality_set_int_value(q, zero[i], 0);
    if (rc == 0)
        rc = pwquality_set_int_value(q, PWQ_SETTING_DICT_CHECK, dict);
    if (rc == 0)
        rc = pwquality_set_int_value(q, PWQ_SETTING_USER_CHECK, user);
    if (rc == 0 && badwords && *badwords)
        rc = pwquality_set_str_value(q, PWQ_SETTING_BAD_WORDS, badwords);
    if (rc != 0) {
        pwquality_free_settings(q);
        return NULL;
    }
    return q;
}

/* pwq_names - libpwquality's search for the names "in some form"; adds a
 * finding only when the plain search above found none.  -1: no memory. */
static int pwq_names(const char *address, const char *pw, bool named, struct problems *pr)
{
    struct words w = {.n = 0};
    char bad[WORDS_MAX * 257] = "", local[256];
    address_words(address, &w);
    for (size_t i = 0; i < w.n; i++) {
        strcat(bad, w.w[i]);
        strcat(bad, " ");
    }
    const char *at = strrchr(address, '@');
    size_t k = at ? (size_t)(at - address) : strlen(address);
    snprintf(local, sizeof local, "%.*s", (int)k, address);
    pwquality_settings_t *q = pwq_new(false, true, bad);
    if (q == NULL)
        return -1;
    void *aux = NULL;
    int rc = pwquality_check(q, pw, NULL, local, &aux);
    pwquality_free_settings(q);
    if (rc == PWQ_ERROR_MEM_ALLOC)
        return -1;
    if ((rc == PWQ_ERROR_USER_CHECK || rc == PWQ_ERROR_BAD_WORDS) && !named)
        add_problem(pr, "it contains the user or domain name in some form");
    else if (rc == PWQ_ERROR_PALINDROME)
        add_problem(pr, "it is a palindrome");
    return 0;
}

/* pwq_dictionary - cracklib through libpwquality.  -1: no memory. */
static int pwq_dictionary(const char *pw, struct problems *pr)
{
    pwquality_settings_t *q = pwq_new(true, false, NULL);
    if (q == NULL)
        return -1;
    void *aux = NULL;
    int rc = pwquality_check(q, pw, NULL, NULL, &aux);
    pwquality_free_settings(q);
    if (rc == PWQ_ERROR_MEM_ALLOC)
        return -1;
    if (rc == PWQ_ERROR_CRACKLIB_CHECK)
        add_problem(pr, "it fails the dictionary check (%s)",
                    aux ? (const char *)aux : "based on a dictionary word");
    return 0;
}

/* format_refusal - "password refused: A; B. Required: ..." into MSG. */
static void format_refusal(const struct config_passwords *p, const struct problems *pr, char *msg,
                           size_t msglen)
{
    size_t o = 0;
    int n = snprintf(msg, msglen, "password refused: ");
    for (size_t i = 0; n >= 0 && (o += (size_t)n) < msglen && i < pr->n; i++)
        n = snprintf(msg + o, msglen - o, "%s%s", i ? "; " : "", pr->p[i]);
    if (n < 0 || o >= msglen)
        return;
    snprintf(msg + o, msglen - o,
             ". Required: at least %u characters, at least %u of the 4 character classes "
             "(lowercase, uppercase, digits, others), no part of the user or domain name%s",
             p->min_length, p->min_classes, p->dictionary_check ? ", no dictionary word" : "");
}

/* password_policy_check - 0 when PW may become the password of ADDRESS. */
int password_policy_check(const struct config_passwords *p, const char *address, const char *pw,
                          char *msg, size_t msglen)
{
    struct problems pr = {.n = 0};
    size_t chars = count_chars(pw);
    if (chars < p->min_length)
        add_problem(&pr, "it has %zu character%s", chars, chars == 1 ? "" : "s");
    check_classes(p, pw, &pr);
    bool named = check_names(address, pw, &pr);
    if (pwq_names(address, pw, named, &pr) < 0 ||
        (p->dictionary_check && chars >= PWQ_LENGTH_FLOOR && pwq_dictionary(pw, &pr) < 0)) {
        snprintf(msg, msglen, "cannot check the password: out of memory");
        return -2;
    }
    if (pr.n == 0)
        return 0;
    format_refusal(p, &pr, msg, msglen);
    return -1;
}
