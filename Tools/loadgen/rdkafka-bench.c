/* A librdkafka-based load generator for `make bench`: the same scenarios as `sluice bench`,
 * driven by a client nobody here wrote, so the broker's figures are measured apart from the
 * Swift client's.
 *
 *   rdkafka-bench produce  --bootstrap B --topic T [--records N | --seconds S] [--record-size S]
 *                          [--acks 0|1|all] [--compression none|gzip|snappy|lz4|zstd]
 *                          [--linger-ms L] [--batch-size BYTES] [--rate R] [--profile tuned|default]
 *   rdkafka-bench consume  --bootstrap B --topic T --records N
 *   rdkafka-bench e2e      --bootstrap B --topic T --seconds S --rate R [--record-size S] [--acks ...]
 *   any mode:              [-X librdkafka.setting=value ...] (security.protocol, sasl.*: a login)
 *
 * A progress line goes to stderr every second; the result is one JSON object on stdout.
 * Latencies: produce with --rate, from the intended send time (the schedule) to the delivery
 * report; e2e, from the intended send time to the consumer receiving the record. Produce without
 * --rate runs flat out and takes no per-record timing (the clock read and the sample would cost
 * librdkafka throughput the broker is being measured by); it reports no latency.
 * --profile default leaves librdkafka's producer settings at their defaults (linger.ms 5,
 * batch.size 1 MB, batch.num.messages 10,000, a 100,000-message queue) unless --linger-ms or
 * --batch-size set them; tuned (the default) raises batch.num.messages and the queue limits. Build: cc -O2 -o rdkafka-bench rdkafka-bench.c $(pkg-config --cflags --libs rdkafka) -lpthread */
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *bootstrap = "127.0.0.1:9092", *topic = NULL, *acks = "1", *compression = "none";
static const char *profile = "tuned";
/* --keys N: record i gets key "k<i mod N>" (compacted topics refuse keyless records); 0: none. */
static long long keys = 0;
static long long records = 0, linger_ms = 5, batch_size = 1000000;
static int linger_given = 0, batch_size_given = 0;
static double seconds = 0, rate = 0;
static int record_size = 100;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Latency samples in microseconds; percentiles by sorting at the end. */
typedef struct { int64_t *v; size_t n, cap; pthread_mutex_t lock; } samples_t;
static samples_t lat = {NULL, 0, 0, PTHREAD_MUTEX_INITIALIZER};
static void sample(int64_t us) {
    pthread_mutex_lock(&lat.lock);
    if (lat.n == lat.cap) {
        lat.cap = lat.cap ? lat.cap * 2 : 1 << 16;
        lat.v = realloc(lat.v, lat.cap * sizeof *lat.v);
        if (!lat.v) { fprintf(stderr, "out of memory\n"); exit(1); }
    }
    lat.v[lat.n++] = us;
    pthread_mutex_unlock(&lat.lock);
}
static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}
static double pct(double p) {
    if (!lat.n) return 0;
    size_t i = (size_t)(p / 100.0 * (double)(lat.n - 1) + 0.5);
    return lat.v[i] / 1000.0;
}

static volatile long long delivered = 0, failed = 0, received = 0;
static volatile long long received_bytes = 0;
static int64_t start_ns;
static int sample_deliveries = 1; /* e2e samples in the consumer only */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk; (void)opaque;
    if (m->err) { __sync_fetch_and_add(&failed, 1); return; }
    __sync_fetch_and_add(&delivered, 1);
    int64_t intended = (int64_t)(intptr_t)m->_private;
    if (intended && sample_deliveries) sample((now_ns() - intended) / 1000);
}

static void die(const char *what, const char *err) { fprintf(stderr, "rdkafka-bench: %s: %s\n", what, err); exit(2); }

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) die(k, err);
}

/* -X key=value settings, applied to every client after the scenario's own. */
static const char *extra[32];
static int extras = 0;

static void set_extra(rd_kafka_conf_t *conf) {
    for (int i = 0; i < extras; i++) {
        char key[256];
        const char *eq = strchr(extra[i], '=');
        if (!eq || eq == extra[i] || (size_t)(eq - extra[i]) >= sizeof key) die("-X", "expects key=value");
        memcpy(key, extra[i], (size_t)(eq - extra[i]));
        key[eq - extra[i]] = 0;
        set(conf, key, eq + 1);
    }
}

static rd_kafka_t *make_producer(void) {
    char buf[64], err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "acks", acks);
    set(conf, "compression.type", compression);
    int tuned = strcmp(profile, "default") != 0;
    if (tuned || linger_given) { snprintf(buf, sizeof buf, "%lld", linger_ms); set(conf, "linger.ms", buf); }
    if (tuned || batch_size_given) { snprintf(buf, sizeof buf, "%lld", batch_size); set(conf, "batch.size", buf); }
    if (tuned) {
        set(conf, "batch.num.messages", "100000");
        set(conf, "queue.buffering.max.messages", "2000000");
        set(conf, "queue.buffering.max.kbytes", "2097151");
    }
    set(conf, "enable.idempotence", strcmp(acks, "all") == 0 || strcmp(acks, "-1") == 0 ? "true" : "false");
    set_extra(conf);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) die("producer", err);
    return rk;
}

static rd_kafka_t *make_consumer(void) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "group.id", "rdkafka-bench");
    set(conf, "enable.auto.commit", "false");
    set(conf, "auto.offset.reset", "earliest");
    set(conf, "fetch.max.bytes", "52428800");
    set(conf, "max.partition.fetch.bytes", "4194304");
    set(conf, "queued.min.messages", "1000000");
    set(conf, "fetch.wait.max.ms", "100");
    set(conf, "enable.partition.eof", "false");
    set_extra(conf);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) die("consumer", err);
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Assigns every partition of the topic from `offset` (beginning, or end for e2e). */
static void assign_all(rd_kafka_t *rk, int64_t offset) {
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 10000);
    if (e) die("metadata", rd_kafka_err2str(e));
    if (md->topic_cnt != 1 || md->topics[0].err) die("metadata", "topic not found");
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(list, topic, md->topics[0].partitions[i].id)->offset = offset;
    rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
}

static void progress(const char *what, long long count, long long bytes, int64_t *last_ns, long long *last_count) {
    int64_t t = now_ns();
    if (t - *last_ns < 1000000000LL) return;
    double dt = (t - *last_ns) / 1e9;
    fprintf(stderr, "%s %lld records, %.0f records/s, %.1f MB/s\n", what, count, (count - *last_count) / dt,
            (count - *last_count) * (double)(bytes ? bytes / (count ? count : 1) : record_size) / dt / 1e6);
    *last_ns = t;
    *last_count = count;
}

static void report(const char *mode, long long count, double elapsed) {
    qsort(lat.v, lat.n, sizeof *lat.v, cmp64);
    printf("{\"client\":\"librdkafka %s\",\"mode\":\"%s\",\"records\":%lld,\"recordSize\":%d,\"seconds\":%.3f,"
           "\"recordsPerSecond\":%.1f,\"megabytesPerSecond\":%.2f,\"failed\":%lld,"
           "\"profile\":\"%s\",\"latencyMs\":",
           rd_kafka_version_str(), mode, count, record_size, elapsed, count / elapsed, count * (double)record_size / elapsed / 1e6,
           failed, profile);
    if (lat.n)
        printf("{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}}\n", pct(50), pct(99), pct(99.9), lat.v[lat.n - 1] / 1000.0);
    else
        printf("null}\n");
}

static void fill(char *payload, long long i) {
    memset(payload, 'a' + (int)(i % 26), record_size);
}

static int produce_loop(rd_kafka_t *rk, int64_t deadline) {
    char *payload = malloc(record_size);
    int64_t last_ns = now_ns();
    long long last_count = 0;
    for (long long i = 0; records == 0 || i < records; i++) {
        int64_t intended = rate > 0 ? start_ns + (int64_t)(i * 1e9 / rate) : 0;
        if (rate > 0 && now_ns() < intended) {
            /* sleep to the slot rather than spin: broker and load share the machine's cores */
            struct timespec ts = {intended / 1000000000LL, intended % 1000000000LL};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            rd_kafka_poll(rk, 0);
        }
        if (deadline && (i & 255) == 0 && now_ns() >= deadline) break;
        fill(payload, i);
        if (record_size >= 8) memcpy(payload, &intended, sizeof intended);
        char key[24];
        int key_len = keys > 0 ? snprintf(key, sizeof key, "k%lld", i % keys) : 0;
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(payload, record_size),
                                                      RD_KAFKA_V_KEY(keys > 0 ? key : NULL, (size_t)key_len),
                                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                      RD_KAFKA_V_OPAQUE((void *)(intptr_t)intended), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) { rd_kafka_poll(rk, 1); continue; }
            if (e) die("produce", rd_kafka_err2str(e));
            break;
        }
        if ((i & 1023) == 0) { rd_kafka_poll(rk, 0); progress("produced", delivered, 0, &last_ns, &last_count); }
    }
    while (rd_kafka_outq_len(rk) > 0) { rd_kafka_poll(rk, 100); progress("produced", delivered, 0, &last_ns, &last_count); }
    free(payload);
    return 0;
}

static volatile int e2e_done = 0;
static void *e2e_consumer(void *arg) {
    rd_kafka_t *rk = arg;
    while (!e2e_done) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (!m->err && m->len >= 8) {
            int64_t intended;
            memcpy(&intended, m->payload, sizeof intended);
            sample((now_ns() - intended) / 1000);
            __sync_fetch_and_add(&received, 1);
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: rdkafka-bench produce|consume|e2e --topic T ...\n"); return 2; }
    const char *mode = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--bootstrap")) bootstrap = v;
        else if (!strcmp(k, "--topic")) topic = v;
        else if (!strcmp(k, "--records")) records = atoll(v);
        else if (!strcmp(k, "--seconds")) seconds = atof(v);
        else if (!strcmp(k, "--record-size")) record_size = atoi(v);
        else if (!strcmp(k, "--acks")) acks = v;
        else if (!strcmp(k, "--compression")) compression = v;
        else if (!strcmp(k, "--linger-ms")) { linger_ms = atoll(v); linger_given = 1; }
        else if (!strcmp(k, "--batch-size")) { batch_size = atoll(v); batch_size_given = 1; }
        else if (!strcmp(k, "--profile")) profile = v;
        else if (!strcmp(k, "--rate")) rate = atof(v);
        else if (!strcmp(k, "--keys")) keys = atoll(v);
        else if (!strcmp(k, "-X")) { if (extras == 32) die("-X", "at most 32"); extra[extras++] = v; }
        else { fprintf(stderr, "unknown option %s\n", k); return 2; }
    }
    if (!topic) { fprintf(stderr, "--topic is required\n"); return 2; }
    if (record_size < 1) record_size = 1;
    if (!strcmp(mode, "produce")) {
        rd_kafka_t *rk = make_producer();
        start_ns = now_ns();
        produce_loop(rk, seconds > 0 ? start_ns + (int64_t)(seconds * 1e9) : 0);
        double elapsed = (now_ns() - start_ns) / 1e9;
        report("produce", delivered, elapsed);
        rd_kafka_destroy(rk);
        return failed ? 1 : 0;
    }
    if (!strcmp(mode, "consume")) {
        rd_kafka_t *rk = make_consumer();
        assign_all(rk, RD_KAFKA_OFFSET_BEGINNING);
        int64_t last_ns = now_ns();
        long long last_count = 0, count = 0, bytes = 0;
        start_ns = 0;
        int64_t idle_since = now_ns();
        /* Batches of up to 10,000 messages per call, as kafka-consumer-perf-test's poll loop
         * gets them: one call per message would measure librdkafka's queue, not the broker. */
        rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(rk);
        rd_kafka_message_t **batch = malloc(10000 * sizeof *batch);
        while (records == 0 || count < records) {
            ssize_t n = rd_kafka_consume_batch_queue(queue, 100, batch, 10000);
            if (n <= 0) {
                if (now_ns() - idle_since > 10000000000LL) { fprintf(stderr, "no records for 10 s; stopping\n"); break; }
                continue;
            }
            for (ssize_t i = 0; i < n; i++) {
                rd_kafka_message_t *m = batch[i];
                if (!m->err) {
                    if (!start_ns) start_ns = now_ns();
                    count++;
                    bytes += m->len;
                }
                rd_kafka_message_destroy(m);
            }
            idle_since = now_ns();
            progress("consumed", count, bytes, &last_ns, &last_count);
        }
        free(batch);
        rd_kafka_queue_destroy(queue);
        double elapsed = start_ns ? (now_ns() - start_ns) / 1e9 : 0;
        if (count) record_size = (int)(bytes / count);
        report("consume", count, elapsed > 0 ? elapsed : 1);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return 0;
    }
    if (!strcmp(mode, "e2e")) {
        if (rate <= 0 || seconds <= 0) { fprintf(stderr, "e2e needs --rate and --seconds\n"); return 2; }
        if (record_size < 8) record_size = 8;
        rd_kafka_t *consumer = make_consumer();
        assign_all(consumer, RD_KAFKA_OFFSET_END);
        sleep(2); /* let the consumer's first fetches reach the end before producing */
        pthread_t thread;
        pthread_create(&thread, NULL, e2e_consumer, consumer);
        sample_deliveries = 0;
        rd_kafka_t *rk = make_producer();
        start_ns = now_ns();
        int64_t deadline = start_ns + (int64_t)(seconds * 1e9);
        long long sent = (long long)(seconds * rate);
        records = sent;
        produce_loop(rk, deadline + 1000000000LL);
        int64_t wait_until = now_ns() + 10000000000LL;
        while (received < sent && now_ns() < wait_until) usleep(10000);
        e2e_done = 1;
        pthread_join(thread, NULL);
        report("e2e", received, seconds);
        rd_kafka_destroy(rk);
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
        return 0;
    }
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
