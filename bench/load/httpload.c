/*
 * httpload: a small HTTP/1.1 load generator for the benchmarks, in C so that the generator itself costs little
 * CPU on the shared 2-core machine and adds no garbage-collector pauses to the latencies it measures.
 *
 *   httpload <host> <port> <path> <secret> <rate> <seconds> <connections> <chats> <first-update-id>
 *            [<first-chat-id> [<schedule-file>]]
 *
 * rate > 0: open loop. Request i is scheduled at start + i/rate and its latency is counted from that moment, so
 *           a stalled server shows up as latency (no coordinated omission); when every connection is busy,
 *           due requests wait in a backlog and their wait counts too.
 * rate = 0: closed loop. Every connection sends its next request as soon as the previous answer arrives.
 *
 * Each request is a realistic Telegram message update (`update_id` counting up from first-update-id, chat ids
 * spread over <chats> from <first-chat-id>, default 1000000) with the webhook secret header. Prints one JSON
 * object: sent, seconds, rate, p50, p90, p99, max (ms), ok (2xx), non_2xx, errors, reconnects. With a
 * <schedule-file>, also writes one line per request answered 2xx: its update id, chat id and the wall-clock time
 * (ms since the epoch) at which it was scheduled, for end-to-end latencies measured elsewhere.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESPONSE_BUFFER 65536
#define REQUEST_BUFFER 4096

typedef struct {
  int fd;
  int busy;
  double scheduled; /* ms, when the request in flight was due */
  long long update_id, chat;
  char in[RESPONSE_BUFFER];
  size_t in_len;
  char out[REQUEST_BUFFER];
  size_t out_len, out_sent;
} Connection;

static const char *host, *path, *secret;
static int port, chats;
static long long next_update_id, first_chat = 1000000;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int connect_to(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in address = {0};
  address.sin_family = AF_INET;
  address.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, host, &address.sin_addr) != 1) return -1;
  if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

static void build_request(Connection *c) {
  long long id = next_update_id++;
  long long chat = first_chat + id % chats;
  c->update_id = id;
  c->chat = chat;
  char body[1024];
  int body_len = snprintf(body, sizeof body,
    "{\"update_id\":%lld,\"message\":{\"message_id\":%lld,\"date\":%ld,\"chat\":{\"id\":%lld,\"type\":\"private\","
    "\"first_name\":\"Player\"},\"from\":{\"id\":%lld,\"is_bot\":false,\"first_name\":\"Player\","
    "\"language_code\":\"en\"},\"text\":\"hello\"}}",
    id, id, (long)time(NULL), chat, chat);
  c->out_len = (size_t)snprintf(c->out, sizeof c->out,
    "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
    "X-Telegram-Bot-Api-Secret-Token: %s\r\nContent-Length: %d\r\n\r\n%s",
    path, host, port, secret, body_len, body);
  c->out_sent = 0;
  c->in_len = 0;
}

static int flush_out(Connection *c) {
  while (c->out_sent < c->out_len) {
    ssize_t n = write(c->fd, c->out + c->out_sent, c->out_len - c->out_sent);
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    c->out_sent += (size_t)n;
  }
  return 0;
}

/* 0: incomplete, >0: complete with this status, -1: malformed. */
static int parse_response(Connection *c) {
  c->in[c->in_len] = 0;
  char *end = strstr(c->in, "\r\n\r\n");
  if (end == NULL) return 0;
  int status = 0;
  if (sscanf(c->in, "HTTP/1.%*d %d", &status) != 1) return -1;
  size_t header_len = (size_t)(end - c->in) + 4;
  long content_length = -1;
  for (char *line = strstr(c->in, "\r\n"); line != NULL && line < end; line = strstr(line + 2, "\r\n")) {
    if (strncasecmp(line + 2, "content-length:", 15) == 0) content_length = strtol(line + 17, NULL, 10);
    if (strncasecmp(line + 2, "transfer-encoding:", 18) == 0 && strcasestr(line, "chunked") != NULL) {
      return strstr(end + 4, "0\r\n\r\n") != NULL ? status : 0;
    }
  }
  if (content_length < 0) content_length = 0;
  return c->in_len >= header_len + (size_t)content_length ? status : 0;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 10 || argc > 12) {
    fprintf(stderr, "usage: %s host port path secret rate seconds connections chats first-update-id "
      "[first-chat-id [schedule-file]]\n", argv[0]);
    return 2;
  }
  host = argv[1];
  port = atoi(argv[2]);
  path = argv[3];
  secret = argv[4];
  double rate = atof(argv[5]);
  double seconds = atof(argv[6]);
  int connections = atoi(argv[7]);
  chats = atoi(argv[8]);
  next_update_id = atoll(argv[9]);
  if (argc > 10) first_chat = atoll(argv[10]);
  FILE *schedule = NULL;
  if (argc > 11 && (schedule = fopen(argv[11], "w")) == NULL) {
    fprintf(stderr, "httpload: cannot write %s\n", argv[11]);
    return 2;
  }

  size_t capacity = rate > 0 ? (size_t)(rate * seconds) + 16 : 4000000;
  double *latencies = malloc(capacity * sizeof(double));
  double *backlog = malloc(capacity * sizeof(double)); /* scheduled times of due requests waiting for a connection */
  size_t backlog_head = 0, backlog_tail = 0;
  Connection *pool = calloc((size_t)connections, sizeof(Connection));
  int epoll = epoll_create1(0);
  long long ok = 0, non_2xx = 0, errors = 0, reconnects = 0;
  int next_connection = 0;
  size_t completed = 0;

  for (int i = 0; i < connections; i++) {
    pool[i].fd = connect_to();
    if (pool[i].fd < 0) {
      fprintf(stderr, "httpload: cannot connect to %s:%d\n", host, port);
      return 1;
    }
    struct epoll_event event = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u32 = (unsigned)i};
    epoll_ctl(epoll, EPOLL_CTL_ADD, pool[i].fd, &event);
  }

  double start = now_ms();
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  double wall_start = wall.tv_sec * 1e3 + wall.tv_nsec / 1e6; /* the wall clock at `start` */
  double end = start + seconds * 1000;
  long long total = rate > 0 ? (long long)(rate * seconds) : -1;
  long long issued = 0;

#define SEND(c, when)                                     \
  do {                                                    \
    (c)->busy = 1;                                        \
    (c)->scheduled = (when);                              \
    build_request(c);                                     \
    if (flush_out(c) < 0) errors++;                       \
  } while (0)

  if (rate <= 0) {
    for (int i = 0; i < connections; i++) SEND(&pool[i], now_ms());
  }

  struct epoll_event events[256];
  for (;;) {
    double now = now_ms();
    if (rate > 0) {
      long long due = (long long)((now - start) * rate / 1000) + 1;
      if (due > total) due = total;
      for (; issued < due; issued++) backlog[backlog_tail++] = start + issued * 1000.0 / rate;
      /* Round robin, so every connection stays in use and none idles into the server's keep-alive timeout. */
      for (int tried = 0; tried < connections && backlog_head < backlog_tail; tried++) {
        Connection *c = &pool[next_connection];
        next_connection = (next_connection + 1) % connections;
        if (!c->busy) SEND(c, backlog[backlog_head++]);
      }
      int idle = 1;
      for (int i = 0; i < connections; i++) idle &= !pool[i].busy;
      if (issued >= total && backlog_head == backlog_tail && idle) break;
      if (now > end + 30000) break; /* the server stopped answering */
    } else {
      int idle = 1;
      for (int i = 0; i < connections; i++) idle &= !pool[i].busy;
      if (now >= end && idle) break;
    }
    /* Sleep until the next request is due (sub-millisecond, so the generator does not spin), or 1 ms. */
    double wait = 1;
    if (rate > 0 && issued < total) {
      double next = start + issued * 1000.0 / rate;
      wait = next > now ? next - now : 0;
      if (wait > 1) wait = 1;
    }
    struct timespec timeout = {.tv_sec = 0, .tv_nsec = (long)(wait * 1e6)};
    int n = epoll_pwait2(epoll, events, 256, &timeout, NULL);
    if (n < 0 && errno == ENOSYS) n = epoll_wait(epoll, events, 256, wait > 0 ? 1 : 0);
    for (int k = 0; k < n; k++) {
      Connection *c = &pool[events[k].data.u32];
      if (events[k].events & EPOLLOUT && c->busy && flush_out(c) < 0) errors++;
      if (!(events[k].events & EPOLLIN)) continue;
      for (;;) {
        ssize_t got = read(c->fd, c->in + c->in_len, RESPONSE_BUFFER - 1 - c->in_len);
        if (got <= 0) {
          if (got < 0 && errno == EAGAIN) break;
          /* The server closed the connection (an idle keep-alive timeout): reconnect, and resend what was in
             flight with its original schedule. */
          epoll_ctl(epoll, EPOLL_CTL_DEL, c->fd, NULL);
          close(c->fd);
          c->fd = connect_to();
          if (c->fd < 0) {
            fprintf(stderr, "httpload: cannot reconnect to %s:%d\n", host, port);
            return 1;
          }
          struct epoll_event event = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u32 = events[k].data.u32};
          epoll_ctl(epoll, EPOLL_CTL_ADD, c->fd, &event);
          reconnects++;
          if (c->busy) {
            c->out_sent = 0;
            c->in_len = 0;
            if (flush_out(c) < 0) errors++;
          }
          break;
        }
        c->in_len += (size_t)got;
        int status = parse_response(c);
        if (status == 0) continue;
        double done = now_ms();
        if (status < 0) errors++;
        else if (status >= 200 && status < 300) {
          ok++;
          if (schedule != NULL) {
            fprintf(schedule, "%lld %lld %.3f\n", c->update_id, c->chat, wall_start + (c->scheduled - start));
          }
        }
        else non_2xx++;
        if (completed < capacity) latencies[completed++] = done - c->scheduled;
        c->busy = 0;
        if (rate > 0 && backlog_head < backlog_tail) SEND(c, backlog[backlog_head++]);
        else if (rate <= 0 && done < end) SEND(c, done);
        break;
      }
    }
  }
  double elapsed = (now_ms() - start) / 1000;
  if (schedule != NULL) fclose(schedule);
  qsort(latencies, completed, sizeof(double), compare);
#define Q(q) (completed ? latencies[(size_t)((q) * (completed - 1))] : 0)
  printf("{\"sent\":%zu,\"seconds\":%.3f,\"rate\":%.1f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,"
         "\"ok\":%lld,\"non_2xx\":%lld,\"errors\":%lld,\"reconnects\":%lld}\n",
    completed, elapsed, completed / elapsed, Q(0.5), Q(0.9), Q(0.99), completed ? latencies[completed - 1] : 0,
    ok, non_2xx, errors, reconnects);
  return 0;
}
