/* kubelite pause: holds a pod's network namespace. Sleeps until SIGTERM/SIGINT and reaps
 * zombies (it may be PID 1 of a shared PID namespace). Statically linked so the image needs
 * nothing else. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) { (void)sig; _exit(0); }

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction stop = {0}, child = {0};
  stop.sa_handler = on_stop;
  child.sa_handler = on_child;
  child.sa_flags = SA_NOCLDSTOP;
  if (sigaction(SIGTERM, &stop, NULL) || sigaction(SIGINT, &stop, NULL) ||
      sigaction(SIGCHLD, &child, NULL)) {
    perror("sigaction");
    return 1;
  }
  for (;;) pause();
  return 0;
}
