/* Practical C ceiling for bench_download_large.py: one thread, recv(1 MiB) -> SHA256 -> write(FILE),
   the pipeline of the downloader without Python. Built by the bench with `cc -O2 ... -lcrypto` when available.
   usage: dl_ceiling PORT NBYTES OUTFILE   (GET /big/NBYTES from 127.0.0.1:PORT; prints sha256 and byte count) */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <openssl/sha.h>
#include <time.h>
int main(int c, char **v) {
  int port = atoi(v[1]); long n = atol(v[2]); size_t B = 1 << 20;
  int s = socket(AF_INET, SOCK_STREAM, 0); struct sockaddr_in a = {0};
  a.sin_family = AF_INET; a.sin_port = htons(port); a.sin_addr.s_addr = htonl(0x7f000001);
  if (connect(s, (void*)&a, sizeof a)) return 1;
  char req[256]; int l = snprintf(req, sizeof req, "GET /big/%ld HTTP/1.1\r\nHost: x\r\n\r\n", n); write(s, req, l);
  char *buf = malloc(B); SHA256_CTX h; SHA256_Init(&h);
  int fd = open(v[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  long got = 0; int hdr = 1;
  while (got < n) {
    ssize_t k = recv(s, buf, B, 0); if (k <= 0) break; char *p = buf;
    if (hdr) { char *e = memmem(buf, k, "\r\n\r\n", 4); p = e + 4; k -= p - buf; hdr = 0; }
    SHA256_Update(&h, p, k); write(fd, p, k); got += k;
  }
  unsigned char d[32]; SHA256_Final(d, &h); for (int i = 0; i < 32; i++) printf("%02x", d[i]); printf(" %ld\n", got);
  return 0;
}
