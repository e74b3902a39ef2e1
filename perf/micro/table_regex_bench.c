/*
 * perf/micro/table_regex_bench.c - cost of a pcre:/regexp: header table of
 * N "^Name: ..." patterns, looked up once per header of a 30-header
 * message where no pattern matches (the common case), plus a hit on the
 * last pattern. Prints microseconds per message for each N. Not part of
 * perf/micro/Makefile (engineer P2's); build by hand against a build dir:
 *
 *   B=/work/main/build-r5; cc -O2 -I/work/main -o /tmp/table_regex_bench \
 *     perf/micro/table_regex_bench.c $B/libscand_rules.a $B/libscand_util.a \
 *     $(pkg-config --libs libpcre2-8 gmime-3.0)
 *   /tmp/table_regex_bench [pcre|regexp]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rules/table.h"

static const char *const names[] = {
    "Subject",      "From",          "To",           "Cc",         "Reply-To",
    "Message-Id",   "Date",          "Received",     "X-Mailer",   "Content-Type",
    "MIME-Version", "X-Spam-Flag",   "User-Agent",   "List-Id",    "Return-Path",
    "Sender",       "X-Originating", "Organization", "Importance", "Priority",
    "Thread-Topic", "References",    "In-Reply-To",  "X-Priority", "Content-Language",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static const char *const headers[30] = {
    "Received: from mail.example.com (mail.example.com [192.0.2.1]) by mx.example.org",
    "Received: from [10.1.2.3] by mail.example.com with ESMTPSA id abc",
    "Received: by 2002:a05:6a10:1234 with SMTP id x; Mon, 1 Jan 2024 10:00:00 -0800",
    "Return-Path: <alice@example.com>",
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s1",
    "Authentication-Results: mx.example.org; dkim=pass header.d=example.com",
    "From: Alice Example <alice@example.com>",
    "To: Bob Example <bob@example.org>",
    "Cc: carol@example.net, dave@example.net",
    "Subject: Re: quarterly numbers for the planning meeting",
    "Date: Mon, 1 Jan 2024 10:00:00 -0800",
    "Message-ID: <20240101100000.12345@mail.example.com>",
    "In-Reply-To: <20231231090000.999@mail.example.org>",
    "References: <20231231090000.999@mail.example.org>",
    "MIME-Version: 1.0",
    "Content-Type: multipart/alternative; boundary=\"b1\"",
    "X-Mailer: Example Mail 5.1",
    "User-Agent: Mozilla/5.0 Thunderbird/115.0",
    "Content-Language: en-US",
    "Thread-Topic: quarterly numbers",
    "Thread-Index: AQHaXYZ123==",
    "X-MS-Has-Attach: yes",
    "X-MS-TNEF-Correlator:",
    "X-Originating-IP: [192.0.2.7]",
    "Accept-Language: en-US",
    "List-Unsubscribe: <mailto:unsub@example.com>",
    "Precedence: bulk",
    "X-Spam-Status: No, score=-1.0",
    "Organization: Example Corp",
    "X-Priority: 3",
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* N rules "/^Name: .*wordK/ REJECT K", every tenth one a bare
 * "/badwordK/" without a prefix, so the walk is not all prefixes. */
static struct table *make_table(const char *type, int n)
{
    char path[] = "/tmp/table_regex_benchXXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    for (int i = 0; i < n; i++) {
        if (i % 10 == 9)
            fprintf(f, "/badword%d[0-9]/ REJECT bare %d\n", i, i);
        else
            fprintf(f, "/^%s: .*(word%d|phrase%d)/ REJECT %d\n", names[i % NNAMES], i, i, i);
    }
    fclose(f);
    char spec[128], err[512];
    snprintf(spec, sizeof(spec), "%s:%s", type, path);
    struct table *t = table_open(spec, err, sizeof(err));
    if (t == NULL) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    unlink(path);
    return t;
}

static double per_message(struct table *t)
{
    double best = 1e9;
    for (int round = 0; round < 3; round++) {
        long msgs = 0;
        double start = now(), el;
        do {
            for (int h = 0; h < 30; h++) {
                struct table_result r;
                if (table_lookup(t, headers[h], &r) == 1)
                    table_result_free(&r);
            }
            msgs++;
        } while ((el = now() - start) < 0.3);
        if (el / msgs < best)
            best = el / msgs;
    }
    return best * 1e6;
}

int main(int argc, char **argv)
{
    const char *type = argc > 1 ? argv[1] : "pcre";
    static const int sizes[] = {10, 100, 1000, 10000};
    printf("%s: us per 30-header message, no rule matching\n", type);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct table *t = make_table(type, sizes[i]);
        printf("  %6d patterns: %10.1f us\n", sizes[i], per_message(t));
        table_free(t);
    }
    return 0;
}
