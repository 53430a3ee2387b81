// The kernel's floor for fan-out over loopback, without a server: what one send per viewer
// costs on this machine, to read OpenRTMP's figures against (bench/README.md, "The floor").
//
// N connections; a sender thread pinned to CPU 0 writes a FRAME-byte frame (4096-byte
// chunks with 1-byte chunk headers in between: 8 iovecs for 13000 bytes, as RTMP does) to
// every socket, BATCH frames per write, one write per socket every BATCH x 33 ms; a receiver
// thread pinned to CPU 1 drains every socket with epoll. Prints the sender's CPU seconds per
// delivered Gbit (its thread's rusage; "+ksoftirqd" adds ksoftirqd/0's time) and per write.
//
//   gcc -O2 -Wall -o /tmp/floor bench/floor.c -lpthread
//   /tmp/floor [N=1000] [BATCH=1] [FRAME=13000] [SECS=8]    one writev per socket
//   URING=1 /tmp/floor ...                                  one io_uring submission of N
//                                                           sendmsg (MSG_DONTWAIT) a round
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define INTERVAL_MS 33

static int n_conns = 1000, frame_len = 13000, secs = 8, batch = 1, use_uring;
static int *snd, *rcv;
static volatile int stop;

// io_uring, by hand (no liburing needed).
static int ring_fd;
static unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
static struct io_uring_sqe *sqes;
static struct io_uring_cqe *cqes;

static int uring_setup(unsigned entries) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    ring_fd = syscall(__NR_io_uring_setup, entries, &p);
    if (ring_fd < 0) {
        perror("io_uring_setup");
        return -1;
    }
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        if (cq_size > sq_size)
            sq_size = cq_size;
        cq_size = sq_size;
    }
    int prot = PROT_READ | PROT_WRITE, flags = MAP_SHARED | MAP_POPULATE;
    char *sq = mmap(0, sq_size, prot, flags, ring_fd, IORING_OFF_SQ_RING);
    char *cq = (p.features & IORING_FEAT_SINGLE_MMAP)
                   ? sq
                   : mmap(0, cq_size, prot, flags, ring_fd, IORING_OFF_CQ_RING);
    sqes = mmap(0, p.sq_entries * sizeof *sqes, prot, flags, ring_fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
        perror("mmap");
        return -1;
    }
    sq_tail = (void *)(sq + p.sq_off.tail);
    sq_mask = (void *)(sq + p.sq_off.ring_mask);
    sq_array = (void *)(sq + p.sq_off.array);
    cq_head = (void *)(cq + p.cq_off.head);
    cq_tail = (void *)(cq + p.cq_off.tail);
    cq_mask = (void *)(cq + p.cq_off.ring_mask);
    cqes = (void *)(cq + p.cq_off.cqes);
    return 0;
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

// CPU ticks of ksoftirqd/0 (utime + stime), 0 if not found.
static long ksoftirqd_ticks(void) {
    FILE *f = popen("pgrep -x ksoftirqd/0", "r");
    int pid = 0;
    if (f) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = 0;
        pclose(f);
    }
    if (!pid)
        return 0;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *fields = strrchr(buf, ')');
    if (!fields)
        return 0;
    long utime = 0, stime = 0;
    // Fields after the command: state is 3rd overall; utime 14th, stime 15th.
    sscanf(fields + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime);
    return utime + stime;
}

static void *receiver(void *arg) {
    (void)arg;
    pin(1);
    int ep = epoll_create1(0);
    static char buf[262144];
    for (int i = 0; i < n_conns; i++) {
        struct epoll_event e = {.events = EPOLLIN, .data.fd = rcv[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, rcv[i], &e);
    }
    struct epoll_event events[256];
    while (!stop) {
        int n = epoll_wait(ep, events, 256, 100);
        for (int i = 0; i < n; i++)
            while (read(events[i].data.fd, buf, sizeof buf) == (ssize_t)sizeof buf) {
            }
    }
    return 0;
}

// One round: the frame(s) to every socket. Returns bytes written; counts short writes.
static long long send_round(struct iovec *iov, int iovcnt, size_t total, long long *partial) {
    long long bytes = 0;
    if (!use_uring) {
        for (int i = 0; i < n_conns; i++) {
            ssize_t w = writev(snd[i], iov, iovcnt);
            if (w > 0)
                bytes += w;
            if (w != (ssize_t)total)
                (*partial)++;
        }
        return bytes;
    }
    static struct msghdr header;
    header.msg_iov = iov;
    header.msg_iovlen = iovcnt;
    unsigned tail = *sq_tail;
    for (int i = 0; i < n_conns; i++) {
        unsigned at = tail & *sq_mask;
        struct io_uring_sqe *e = &sqes[at];
        memset(e, 0, sizeof *e);
        e->opcode = IORING_OP_SENDMSG;
        e->fd = snd[i];
        e->addr = (unsigned long)&header;
        e->len = 1;
        e->msg_flags = MSG_DONTWAIT;
        e->user_data = i;
        sq_array[at] = at;
        tail++;
    }
    __atomic_store_n(sq_tail, tail, __ATOMIC_RELEASE);
    if (syscall(__NR_io_uring_enter, ring_fd, n_conns, n_conns, IORING_ENTER_GETEVENTS, 0, 0) < 0)
        perror("io_uring_enter");
    unsigned head = *cq_head, end = __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE);
    for (; head != end; head++) {
        int res = cqes[head & *cq_mask].res;
        if (res > 0)
            bytes += res;
        if (res != (int)total)
            (*partial)++;
    }
    __atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
    return bytes;
}

int main(int argc, char **argv) {
    if (argc > 1)
        n_conns = atoi(argv[1]);
    if (argc > 2)
        batch = atoi(argv[2]);
    if (argc > 3)
        frame_len = atoi(argv[3]);
    if (argc > 4)
        secs = atoi(argv[4]);
    use_uring = getenv("URING") != 0;
    if (use_uring && uring_setup(2 * n_conns))
        return 1;
    snd = calloc(n_conns, sizeof(int));
    rcv = calloc(n_conns, sizeof(int));

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t addr_len = sizeof addr;
    bind(listener, (void *)&addr, sizeof addr);
    listen(listener, 4096);
    getsockname(listener, (void *)&addr, &addr_len);
    for (int i = 0; i < n_conns; i++) {
        rcv[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(rcv[i], (void *)&addr, sizeof addr)) {
            perror("connect");
            return 1;
        }
        snd[i] = accept(listener, 0, 0);
        int one = 1;
        setsockopt(snd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(snd[i], F_SETFL, O_NONBLOCK);
        fcntl(rcv[i], F_SETFL, O_NONBLOCK);
    }
    pthread_t reader;
    pthread_create(&reader, 0, receiver, 0);
    pin(0);

    // The write: per frame a 12-byte type 0 header, then 4096-byte chunks with 1-byte
    // type 3 headers in between.
    char *frame = calloc(1, frame_len);
    static char headers[16] = {(char)0xc7};
    struct iovec iov[512];
    int iovcnt = 0;
    for (int b = 0; b < batch; b++) {
        iov[iovcnt++] = (struct iovec){headers, 12};
        for (int off = 0; off < frame_len; off += 4096) {
            if (off)
                iov[iovcnt++] = (struct iovec){headers, 1};
            int len = frame_len - off < 4096 ? frame_len - off : 4096;
            iov[iovcnt++] = (struct iovec){frame + off, len};
        }
    }
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    sleep(1);

    struct rusage r0, r1;
    getrusage(RUSAGE_THREAD, &r0);
    long soft0 = ksoftirqd_ticks();
    double t0 = now(), next = t0;
    long long bytes = 0, partial = 0;
    while (now() - t0 < secs) {
        bytes += send_round(iov, iovcnt, total, &partial);
        next += INTERVAL_MS * batch / 1000.0;
        double wait = next - now();
        if (wait > 0) {
            struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
            nanosleep(&ts, 0);
        }
    }
    getrusage(RUSAGE_THREAD, &r1);
    long soft1 = ksoftirqd_ticks();
    double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                 (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
                 (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    double soft = (soft1 - soft0) / (double)sysconf(_SC_CLK_TCK);
    double gbit = bytes * 8 / 1e9;
    printf("%s N=%d batch=%d frame=%d iovecs=%d: %.2f Gbit/s, cpu %.3f s/Gbit "
           "(+ksoftirqd %.3f), %.2f us per write, %lld short writes\n",
           use_uring ? "io_uring" : "writev", n_conns, batch, frame_len, iovcnt, gbit / secs,
           cpu / gbit, (cpu + soft) / gbit, (cpu + soft) * 1e6 / (bytes / (double)total), partial);
    stop = 1;
    pthread_join(reader, 0);
    return 0;
}
